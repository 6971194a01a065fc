package reconciler

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// nextCase is a row of the repo-state machine's tables (TestNext,
// TestNextLifecycle): from prev, the change c and the write result w, next
// gives the state want and the events.
type nextCase struct {
	name   string
	prev   store.RepoState
	c      Change
	w      *WriteResult
	want   store.RepoState
	events []Event
}

// check runs next on the row with the facts f, checks the state and the
// events it gives, and returns them.
func (tc nextCase) check(t *testing.T, f facts) (store.RepoState, []Event) {
	t.Helper()
	before := tc.prev.Clone()
	got, events := next(tc.prev, tc.c, tc.w, f)
	if diff := cmp.Diff(before, tc.prev); diff != "" {
		t.Errorf("next changed prev, which under store.Step is the store's own value (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(tc.want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tc.events, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	return got, events
}

// tableFacts are the facts of the state machine's tables (TestNext,
// TestNextLifecycle): now, when this cycle's writes finished, is an hour
// after t0, when the earlier cycles wrote and drift began; the revision
// was committed ten minutes before now.
func tableFacts() (t0 time.Time, f facts) {
	t0 = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	return t0, facts{now: t0.Add(time.Hour), commit: t0.Add(50 * time.Minute)}
}

// TestNext is the repo-state machine's table: every status it can reach and
// every event it can emit, from the states that lead there.
func TestNext(t *testing.T) {
	t0, f := tableFacts()
	now, commit := f.now, f.commit
	diff := overlay.Diff(overlay.Overlay{}, overlay.Overlay{Packages: []string{"curl"}})
	diffS := []string{"+ package curl"}
	build := &store.BuildInfo{ID: "b1", Result: vocab.BuildFailure, Finished: t0, Seconds: 3}
	denied := status.Error(codes.PermissionDenied, "no")
	unavailable := status.Error(codes.Unavailable, "down")

	// change is the plan for repo "web" with the given action.
	change := func(a vocab.Action, hash string) Change {
		c := Change{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Action: a, DesiredHash: hash, LiveHash: "live"}
		if a.Writes() {
			c.Diff = diff
		}
		return c
	}
	stalled := func(c Change) Change { c.Stalled = true; return c }
	withErr := func(c Change, msg string) Change { c.Err = errors.New(msg); return c }
	synced := store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: "h1", LiveHash: "h1", LastBuild: build}
	drifted := store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: "h2", LiveHash: "live", Diff: diffS, DriftSince: new(t0), Writes: 2, WritesOf: "h2", LastWrite: new(t0)}
	ev := func(k vocab.EventKind) Event {
		return Event{Kind: k, Repo: "web", RepoID: "org/web", File: "f/web.yaml"}
	}
	changed := func(from, to vocab.Status, writes int, reason string) Event {
		e := ev(vocab.EventStatusChanged)
		e.From, e.To, e.Writes, e.Reason = from, to, writes, reason
		return e
	}
	driftDetected := func() Event { e := ev(vocab.EventDriftDetected); e.Diff = diffS; return e }
	written := func(a vocab.Action, hash string, converged bool, commit time.Time) Event {
		e := ev(vocab.EventWritten)
		e.Action, e.DesiredHash, e.Diff, e.Converged, e.At, e.Attempts, e.Commit = a, hash, diffS, converged, now, 1, commit
		return e
	}

	// convergedWrite is a row where the repo, in sync before, gets a new
	// file of the action whose write converges: drift detected, then
	// written with the commit time commitAt (zero for no commit-to-write).
	convergedWrite := func(name string, a vocab.Action, hash string, commitAt time.Time) nextCase {
		return nextCase{
			name: name,
			prev: synced,
			c:    change(a, hash),
			w:    &WriteResult{Converged: true, At: now, Attempts: 1},
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: hash, LiveHash: hash,
				LastWrite: new(now), Writes: 1, WritesOf: hash, LastBuild: build},
			events: []Event{driftDetected(), written(a, hash, true, commitAt)},
		}
	}
	// unconvergedWrite is a row where the drifted repo's update to hash is
	// written but does not converge: it stays drifted with writes toward
	// the stall count.
	unconvergedWrite := func(name, hash string, writes int, commitAt time.Time) nextCase {
		return nextCase{
			name: name,
			prev: drifted,
			c:    change(vocab.ActionUpdate, hash),
			w:    &WriteResult{At: now, Attempts: 1},
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: hash, LiveHash: "live",
				Diff: diffS, DriftSince: new(t0), LastWrite: new(now), Writes: writes, WritesOf: hash},
			events: []Event{written(vocab.ActionUpdate, hash, false, commitAt)},
		}
	}
	// failedWrite is a row where the drifted repo's update fails with w:
	// failed, with writes toward the stall count, the last write kept.
	failedWrite := func(name string, w *WriteResult, writes int) nextCase {
		failed := ev(vocab.EventWriteFailed)
		failed.Reason, failed.Attempts, failed.Transient = w.Err.Error(), w.Attempts, w.Transient
		return nextCase{
			name: name,
			prev: drifted,
			c:    change(vocab.ActionUpdate, "h2"),
			w:    w,
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusFailed, DesiredHash: "h2", LiveHash: "live",
				Diff: diffS, DriftSince: new(t0), LastWrite: new(t0), WriteError: w.Err.Error(), Writes: writes, WritesOf: "h2"},
			events: []Event{failed, changed(vocab.StatusDrifted, vocab.StatusFailed, writes, w.Err.Error())},
		}
	}
	invalid1 := store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusInvalid, DesiredHash: "invalid:1", LiveHash: "live", Error: "f/web.yaml:1:1: nope"}

	for _, tc := range []nextCase{
		{
			name:   "first sight, in sync",
			c:      change(vocab.ActionNoop, "h1"),
			want:   store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: "h1", LiveHash: "live"},
			events: []Event{changed("", vocab.StatusSynced, 0, "")},
		},
		{
			name: "in sync stays in sync: nothing happens",
			prev: synced,
			c:    Change{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Action: vocab.ActionNoop, DesiredHash: "h1", LiveHash: "h1"},
			want: synced,
		},
		{
			name: "drift detected, not written (detect mode)",
			prev: synced,
			c:    change(vocab.ActionUpdate, "h1"),
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: "h1", LiveHash: "live",
				Diff: diffS, DriftSince: new(now), LastBuild: build},
			events: []Event{driftDetected(), changed(vocab.StatusSynced, vocab.StatusDrifted, 0, "")},
		},
		{
			name: "still drifted: drift is not detected again",
			prev: drifted,
			c:    change(vocab.ActionUpdate, "h2"),
			want: drifted,
		},
		convergedWrite("a new file written and converged: one write toward the stall count, commit-to-write measured", vocab.ActionUpdate, "h2", commit),
		convergedWrite("a Console edit put back: written, but no commit-to-write", vocab.ActionUpdate, "h1", time.Time{}),
		convergedWrite("an empty file resets the overlay", vocab.ActionReset, "empty", commit),
		unconvergedWrite("written but not converged: stays drifted, the count grows", "h2", 3, time.Time{}),
		unconvergedWrite("a new file starts the count again", "h3", 1, commit),
		failedWrite("a permanent write failure: failed, counts toward the stall", &WriteResult{Err: denied, At: now, Attempts: 1}, 3),
		failedWrite("a transient write failure does not count toward the stall", &WriteResult{Err: unavailable, Transient: true, At: now, Attempts: 4}, 2),
		{
			name: "stalled: the plan says so, nothing is written",
			prev: drifted,
			c:    stalled(change(vocab.ActionUpdate, "h2")),
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusStalled, DesiredHash: "h2", LiveHash: "live",
				Diff: diffS, DriftSince: new(t0), LastWrite: new(t0), Writes: 2, WritesOf: "h2"},
			events: []Event{
				changed(vocab.StatusDrifted, vocab.StatusStalled, 2, ""),
				func() Event { e := ev(vocab.EventStalled); e.Writes, e.Diff = 2, diffS; return e }(),
			},
		},
		{
			name:   "back in sync clears drift and the count",
			prev:   drifted,
			c:      change(vocab.ActionNoop, "h2"),
			want:   store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: "h2", LiveHash: "live", LastWrite: new(t0)},
			events: []Event{changed(vocab.StatusDrifted, vocab.StatusSynced, 0, "")},
		},
		{
			name: "an invalid file",
			prev: synced,
			c:    withErr(change(vocab.ActionInvalid, "invalid:1"), "f/web.yaml:1:1: nope"),
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusInvalid, DesiredHash: "invalid:1", LiveHash: "live",
				Error: "f/web.yaml:1:1: nope", LastBuild: build},
			events: []Event{changed(vocab.StatusSynced, vocab.StatusInvalid, 0, "f/web.yaml:1:1: nope")},
		},
		{
			name: "still invalid for the same reason: nothing new",
			prev: invalid1,
			c:    withErr(change(vocab.ActionInvalid, "invalid:1"), "f/web.yaml:1:1: nope"),
			want: invalid1,
		},
		{
			name:   "invalid for a new reason is reported again",
			prev:   invalid1,
			c:      withErr(change(vocab.ActionInvalid, "invalid:2"), "f/web.yaml:2:1: other"),
			want:   store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusInvalid, DesiredHash: "invalid:2", LiveHash: "live", Error: "f/web.yaml:2:1: other"},
			events: []Event{changed(vocab.StatusInvalid, vocab.StatusInvalid, 0, "f/web.yaml:2:1: other")},
		},
		{
			name: "a file naming a repo that does not exist",
			c: func() Change {
				c := withErr(change(vocab.ActionMissing, "h1"), "f/web.yaml: repo does not exist")
				c.RepoID, c.LiveHash = "", ""
				return c
			}(),
			want: store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusMissing, DesiredHash: "h1", Error: "f/web.yaml: repo does not exist"},
			events: []Event{func() Event {
				e := changed("", vocab.StatusMissing, 0, "f/web.yaml: repo does not exist")
				e.RepoID = ""
				return e
			}()},
		},
		{
			name: "its file deleted, the repo keeps an overlay: orphan",
			prev: drifted,
			c:    Change{Repo: "web", RepoID: "org/web", Action: vocab.ActionOrphan, LiveHash: "live"},
			want: store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusOrphan, LiveHash: "live", LastWrite: new(t0), Writes: 2, WritesOf: "h2"},
			events: []Event{func() Event {
				e := changed(vocab.StatusDrifted, vocab.StatusOrphan, 2, "")
				e.File = ""
				return e
			}()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := tc.prev
			got, events := tc.check(t, f)
			if diff := cmp.Diff(prev, tc.prev); diff != "" {
				t.Errorf("next changed its input (-before +after):\n%s", diff)
			}
			// Pure: the same inputs give the same outputs.
			again, events2 := next(tc.prev, tc.c, tc.w, f)
			if !cmp.Equal(got, again) || !cmp.Equal(events, events2) {
				t.Errorf("next is not deterministic")
			}
		})
	}
}

func TestGone(t *testing.T) {
	got := gone(store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced})
	want := []Event{{Kind: vocab.EventRepoGone, Repo: "web", RepoID: "org/web", File: "f/web.yaml", From: vocab.StatusSynced}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gone (-want +got):\n%s", diff)
	}
}

// TestNextCoversEveryStatusAndEvent fails when a status or an event kind is
// added to vocab without a row in TestNext that reaches it.
func TestNextCoversEveryStatusAndEvent(t *testing.T) {
	// The statuses each action leads to, and the events reachable: the
	// rows above, replayed compactly.
	reached := map[vocab.Status]bool{}
	kinds := map[vocab.EventKind]bool{vocab.EventRepoGone: true} // TestGone
	f := facts{now: time.Unix(100, 0)}
	for _, step := range []struct {
		c Change
		w *WriteResult
	}{
		{Change{Repo: "r", Action: vocab.ActionNoop, DesiredHash: "a"}, nil},
		{Change{Repo: "r", Action: vocab.ActionUpdate, DesiredHash: "b"}, &WriteResult{At: f.now}},
		{Change{Repo: "r", Action: vocab.ActionUpdate, DesiredHash: "b"}, &WriteResult{Err: errors.New("x")}},
		{Change{Repo: "r", Action: vocab.ActionUpdate, DesiredHash: "b", Stalled: true}, nil},
		{Change{Repo: "r", Action: vocab.ActionUpdate, DesiredHash: "c"}, nil},
		{Change{Repo: "r", Action: vocab.ActionInvalid, Err: errors.New("bad")}, nil},
		{Change{Repo: "r", Action: vocab.ActionMissing, Err: errors.New("gone")}, nil},
		{Change{Repo: "r", Action: vocab.ActionOrphan}, nil},
		// the lifecycle's (TestNextLifecycle)
		{Change{Repo: "r", Action: vocab.ActionCreate, DesiredHash: "d"}, &WriteResult{At: f.now, Converged: true, RepoID: "o/r"}},
		{Change{Repo: "r", Action: vocab.ActionPrune, DesiredHash: "e"}, &WriteResult{At: f.now, Converged: true}},
		{Change{Repo: "r", Action: vocab.ActionSuspended, Would: vocab.ActionUpdate}, nil},
		{Change{Repo: "r", Action: vocab.ActionPrune, Held: vocab.HoldPruneLimit, Err: errors.New("too many")}, nil},
	} {
		var prev store.RepoState
		st, events := next(prev, step.c, step.w, f)
		reached[st.Status] = true
		for _, e := range events {
			kinds[e.Kind] = true
		}
		prev = st
		st, events = next(prev, step.c, step.w, f)
		reached[st.Status] = true
		for _, e := range events {
			kinds[e.Kind] = true
		}
	}
	// stalled needs a drifted predecessor
	st, events := next(store.RepoState{Status: vocab.StatusDrifted}, Change{Repo: "r", Action: vocab.ActionUpdate, Stalled: true}, nil, f)
	reached[st.Status] = true
	for _, e := range events {
		kinds[e.Kind] = true
	}
	for _, s := range vocab.Statuses() {
		if !reached[s] {
			t.Errorf("no transition reaches status %s", s)
		}
	}
	for _, k := range vocab.EventKinds() {
		if !kinds[k] {
			t.Errorf("no transition emits event %s", k)
		}
	}
}
