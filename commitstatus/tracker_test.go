package commitstatus

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sent records what a Tracker decides, in order.
type sent []string

func (s *sent) Report(revision string, st Status) {
	*s = append(*s, revision+" "+string(st.State)+": "+st.Description)
}

// recordingTracker returns a Tracker that records what it sends in got,
// and the map busy that says whose builds are running.
func recordingTracker() (tr *Tracker, busy map[string]bool, got *sent) {
	got = &sent{}
	busy = map[string]bool{}
	return NewTracker(got, func(id string) bool { return busy[id] }), busy, got
}

// want checks that exactly want was sent, in order.
func (s *sent) want(t *testing.T, want ...string) {
	t.Helper()
	if diff := cmp.Diff(sent(want), *s); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestTracker(t *testing.T) {
	tr, busy, got := recordingTracker()

	// r1 writes a and b; their builds start.
	busy["id-a"], busy["id-b"] = true, true
	tr.Cycle("r1", []CycleRepo{{Name: "a", ID: "id-a", Drifted: true, Written: true}, {Name: "b", ID: "id-b", Drifted: true, Written: true}})
	// a's first build succeeds while another of a's builds runs.
	tr.Build("a", BuildSuccess)
	// A build of a repo r1 did not write (a rebuild Chainguard started)
	// does not count.
	tr.Build("c", BuildFailure)
	// The next cycle finds everything in sync: a and b keep their builds.
	tr.Cycle("r1", nil)
	busy["id-a"] = false
	tr.Build("a", BuildSuccess)
	busy["id-b"] = false
	tr.Build("b", BuildSuccess)

	// r2: b's build fails, c's file is invalid.
	busy["id-b"] = true
	tr.Cycle("r2", []CycleRepo{{Name: "b", ID: "id-b", Drifted: true, Written: true}, {Name: "c", ID: "id-c", Problem: ProblemInvalid}})
	busy["id-b"] = false
	tr.Build("b", BuildFailure)
	// c is fixed by r3; d's write fails; then d recovers in a later cycle
	// of r3 and builds.
	tr.Cycle("r3", []CycleRepo{{Name: "d", ID: "id-d", Drifted: true, Problem: ProblemWriteFailed}})
	busy["id-d"] = true
	tr.Cycle("r3", []CycleRepo{{Name: "d", ID: "id-d", Drifted: true, Written: true}})
	busy["id-d"] = false
	tr.Build("d", BuildTimeout)
	// Detect mode: drift that is never written stays pending.
	tr.Cycle("r4", []CycleRepo{{Name: "e", ID: "id-e", Drifted: true}})
	// No revision (Git unreadable): nothing is sent.
	tr.Cycle("", nil)

	got.want(t,
		"r1 pending: 2 repos building",
		"r1 pending: 2 repos building",
		"r1 pending: 2 repos building",
		"r1 pending: 1 repo building",
		"r1 success: 2 repos written, 3 builds succeeded",
		"r2 failure: failed: c (invalid file)",
		"r2 failure: failed: b (build failed), c (invalid file)",
		"r3 failure: failed: d (write failed)",
		"r3 pending: 1 repo building",
		"r3 failure: failed: d (build timed out)",
		"r4 pending: 1 repo to write",
	)
}

// TestTrackerLifecycle: a revision that only creates repos is pending
// while their builds run (the created repo's id comes from the create),
// keeps its create when the next cycle finds the repo in sync, and
// succeeds when the builds do; a revision whose prunes a guard refuses
// fails naming them, and succeeds once they are pruned and built.
func TestTrackerLifecycle(t *testing.T) {
	tr, busy, got := recordingTracker()

	busy["id-new"] = true
	tr.Cycle("r1", []CycleRepo{{Name: "custom-node", ID: "id-new", Drifted: true, Written: true}})
	tr.Cycle("r1", nil) // in sync now
	busy["id-new"] = false
	tr.Build("custom-node", BuildSuccess)

	// r2 deletes two files; the prune limit refuses both, every cycle.
	tr.Cycle("r2", []CycleRepo{{Name: "a", ID: "id-a", Drifted: true, Problem: ProblemPruneRefused}, {Name: "b", ID: "id-b", Drifted: true, Problem: ProblemPruneRefused}})
	tr.Cycle("r2", []CycleRepo{{Name: "a", ID: "id-a", Drifted: true, Problem: ProblemPruneRefused}, {Name: "b", ID: "id-b", Drifted: true, Problem: ProblemPruneRefused}})
	// The limit is raised (a restart): both pruned, then built.
	busy["id-a"], busy["id-b"] = true, true
	tr.Cycle("r2", []CycleRepo{{Name: "a", ID: "id-a", Drifted: true, Written: true}, {Name: "b", ID: "id-b", Drifted: true, Written: true}})
	tr.Cycle("r2", nil) // pruned repos are no longer planned
	busy["id-a"] = false
	tr.Build("a", BuildSuccess)
	busy["id-b"] = false
	tr.Build("b", BuildSuccess)

	// r3: a create the service refuses, and later cycles keep the refusal.
	tr.Cycle("r3", []CycleRepo{{Name: "denied", Problem: ProblemCreateRefused}})
	tr.Cycle("r3", []CycleRepo{{Name: "denied", Problem: ProblemCreateRefused}})

	got.want(t,
		"r1 pending: 1 repo building",
		"r1 pending: 1 repo building",
		"r1 success: 1 repo written, 1 build succeeded",
		"r2 failure: failed: a (prune refused), b (prune refused)",
		"r2 failure: failed: a (prune refused), b (prune refused)",
		"r2 pending: 2 repos building",
		"r2 pending: 2 repos building",
		"r2 pending: 1 repo building",
		"r2 success: 2 repos written, 2 builds succeeded",
		"r3 failure: failed: denied (create refused)",
		"r3 failure: failed: denied (create refused)",
	)
}
