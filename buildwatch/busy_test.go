package buildwatch_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// TestBusy: a repo is busy from its write until the last of its builds
// was handed to OnResult; when two builds finish in one poll, the first
// result is told while the second is still to come.
func TestBusy(t *testing.T) {
	e := newEnv(t, emulator.Options{BuildDuration: 20 * time.Millisecond}, buildwatch.Config{}, nil)
	id := e.repo("ok", true, "latest", "1.0")
	other := e.repo("idle", true)
	if e.w.Busy(id) {
		t.Error("busy before any write")
	}
	var during []bool
	e.onResult = func(r buildwatch.Result) { during = append(during, e.w.Busy(r.RepoID)) }
	e.write("ok", "curl")
	if !e.w.Busy(id) {
		t.Error("not busy right after the write")
	}
	// Let both builds finish before the first poll sees them.
	time.Sleep(100 * time.Millisecond)
	e.pollUntil("both builds reported", func() bool { return e.builds("ok", "success") == 2 })
	if diff := cmp.Diff([]bool{true, false}, during); diff != "" {
		t.Errorf("Busy inside OnResult (-want +got):\n%s", diff)
	}
	if e.w.Busy(id) || e.w.Busy(other) {
		t.Error("busy after every build was reported")
	}
}
