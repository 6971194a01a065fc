package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// cycle is a finished cycle that started at start and took took.
	cycle := func(start time.Duration, took time.Duration, result vocab.CycleResult, dep vocab.Dependency, err string) *store.CycleInfo {
		return &store.CycleInfo{Started: ago(start), Finished: ago(start - took), Result: result, FailedDependency: dep, Error: err}
	}
	ok := func(start time.Duration) *store.CycleInfo {
		return cycle(start, time.Second, vocab.CycleSuccess, "", "")
	}
	gitErr := "reading desired state: fetching https://git.example.com/x: authentication required"
	apiErr := "reading live state: listing repos of org: Unavailable"
	for _, tc := range []struct {
		name   string
		status store.Status
		ready  bool
		reason string
	}{
		{"before the first cycle", store.Status{}, false, "first cycle not finished"},
		{"first cycle could not read Git", store.Status{Ready: true, LastCycle: cycle(2*time.Second, time.Second, vocab.CycleError, vocab.DependencyGit, gitErr)},
			false, "the Git source could not be read since start: " + gitErr},
		{"fresh", store.Status{Ready: true, LastCycle: ok(time.Minute), LastFetch: ago(time.Minute), LastLiveRead: ago(time.Minute)}, true, "ready"},
		{"a partial cycle is ready", store.Status{Ready: true, LastCycle: cycle(time.Minute, time.Second, vocab.CyclePartial, "", ""), LastFetch: ago(time.Minute)}, true, "ready"},
		// A slow but successful API: cycles of 7s at a 2s interval stay
		// ready (the window is 3 x (interval + duration)).
		{"slow API at a 2s interval, cycle finished 20s ago", store.Status{Ready: true, LastCycle: cycle(27*time.Second, 7*time.Second, vocab.CycleSuccess, "", ""), LastFetch: ago(27 * time.Second)},
			true, "ready"},
		{"slow API at a 2s interval, no cycle for 28s", store.Status{Ready: true, LastCycle: cycle(35*time.Second, 7*time.Second, vocab.CycleSuccess, "", "")},
			false, "cycle late: none finished for 28s (more than three intervals and cycle durations, 27s)"},
		{"exactly at the window", store.Status{Ready: true, LastCycle: cycle(3*time.Minute+3*time.Second, time.Second, vocab.CycleSuccess, "", "")}, true, "ready"},
		{"cycle late", store.Status{Ready: true, LastCycle: cycle(3*time.Minute+5*time.Second, time.Second, vocab.CycleSuccess, "", "")},
			false, "cycle late: none finished for 3m4s (more than three intervals and cycle durations, 3m3s)"},
		{"one failed Git read is retried", store.Status{Ready: true, LastCycle: cycle(2*time.Second, time.Second, vocab.CycleError, vocab.DependencyGit, gitErr), LastFetch: ago(time.Minute)},
			true, "ready (the last cycle could not read the Git source; retrying)"},
		{"Git failing for longer than the window", store.Status{Ready: true, LastCycle: cycle(2*time.Second, time.Second, vocab.CycleError, vocab.DependencyGit, gitErr), LastFetch: ago(4 * time.Minute), LastLiveRead: ago(time.Second)},
			false, "the Git source could not be read for 3m59s: " + gitErr},
		{"the API failing, Git fine", store.Status{Ready: true, LastCycle: cycle(2*time.Second, time.Second, vocab.CycleError, vocab.DependencyAPI, apiErr), LastFetch: ago(time.Second), LastLiveRead: ago(10 * time.Minute)},
			false, "the Chainguard API could not be read for 9m59s: " + apiErr},
		{"a long error is cut", store.Status{Ready: true, LastCycle: cycle(2*time.Second, time.Second, vocab.CycleError, vocab.DependencyAPI, strings.Repeat("é", 400))},
			false, "the Chainguard API could not be read since start: " + strings.Repeat("é", 150) + "…"},
	} {
		interval := time.Minute
		if strings.Contains(tc.name, "at a 2s interval") {
			interval = 2 * time.Second
		}
		ready, reason := readiness(func() store.Status { return tc.status }, interval, func() time.Time { return now })()
		if ready != tc.ready || reason != tc.reason {
			t.Errorf("%s: readiness = %v %q, want %v %q", tc.name, ready, reason, tc.ready, tc.reason)
		}
	}
}
