package main

import (
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/store"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status store.Status
		ready  bool
		reason string
	}{
		{"before the first cycle", store.Status{}, false, "first cycle not finished"},
		{"first cycle could not read Git", store.Status{Ready: true}, false, "no successful Git read in the last three intervals"},
		{"fresh", store.Status{Ready: true, LastFetch: now.Add(-time.Minute)}, true, "ready"},
		{"exactly three intervals", store.Status{Ready: true, LastFetch: now.Add(-3 * time.Minute)}, true, "ready"},
		{"stale", store.Status{Ready: true, LastFetch: now.Add(-3*time.Minute - time.Second)}, false, "no successful Git read in the last three intervals"},
	} {
		ready, reason := readiness(func() store.Status { return tc.status }, time.Minute, func() time.Time { return now })()
		if ready != tc.ready || reason != tc.reason {
			t.Errorf("%s: readiness = %v %q, want %v %q", tc.name, ready, reason, tc.ready, tc.reason)
		}
	}
}
