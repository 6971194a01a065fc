package reconciler

import (
	"errors"
	"time"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Event is one thing that happened to a repo in a cycle, as a plain value.
// The transition returns events; sinks at the edge (metrics, logs, the
// build watcher, and later commit statuses and notifications) consume them.
// Which fields are set depends on Kind; the others are zero.
type Event struct {
	Kind   vocab.EventKind
	Repo   string
	RepoID string
	File   string
	// From and To are the statuses around a status change; From is empty
	// the first time a repo is seen.
	From, To vocab.Status
	// Action is what a write did (update or reset).
	Action vocab.Action
	// DesiredHash is the hash of the overlay written.
	DesiredHash string
	// Diff is what differs (drift detected, stalled) or what a write
	// changed (written).
	Diff []string
	// Reason is the file's error (a status change to invalid or missing)
	// or the write's error (write failed, a change to failed).
	Reason string
	// Converged reports whether the repo read back equal to its file
	// after a write.
	Converged bool
	// At is when a write finished.
	At time.Time
	// Attempts is how many calls a write took.
	Attempts int
	// Writes is how many writes of the same file did not converge
	// (stalled, and status changes).
	Writes int
	// Commit is the commit time of the revision whose change a write
	// applied, set on the first write after the repo's file changed; zero
	// otherwise (a write putting back a Console edit).
	Commit time.Time
	// UnknownFields is the number of fields of the live overlay this
	// version does not know, which a write kept (written).
	UnknownFields int
	// Source is what a created repo was made from (created, and a failed
	// create).
	Source string
	// Held is why a repo's difference is not written: on a refusal, and on
	// the drift detected of a suspended repo.
	Held vocab.HoldReason
	// Transient is set on a write failed whose error is transient (the API
	// unavailable, the cycle cancelled): the next cycle tries again, so it
	// is no refusal.
	Transient bool
}

// facts are what a transition knows about the cycle besides the repo.
type facts struct {
	// now is when the cycle's writes finished.
	now time.Time
	// commit is the commit time of the revision; zero when unknown.
	commit time.Time
}

// next is the repo-state machine: from the state after the previous cycle,
// this cycle's change for the repo and the result of its write (nil when it
// was not written), it returns the new state and what happened. It is pure:
// no I/O, no clock, no shared state. LastBuild is carried over untouched
// (the build watcher owns it).
//
// The statuses: noop is synced; invalid, missing and orphan are
// themselves; update, reset, create and prune are drifted, then stalled
// when the plan marked the repo stalled, failed when the write failed (for a
// create whose source the service refused: invalid, placed at the source's
// line), and synced (pruned, for a prune) when the write converged; a
// suspended repo is suspended, drifting while it differs from Git. Entering
// drift from any other status is "drift detected". Successful writes and
// permanent failures count toward the stall limit for the desired hash
// written; a new hash starts the count again and synced clears it. A write
// refused by a guard is "refused" when the refusal starts or its reason
// changes; a create is "created" and a prune "pruned" instead of
// "written".
func next(prev store.RepoState, c Change, w *WriteResult, f facts) (store.RepoState, []Event) {
	st := prev
	st.Repo, st.RepoID, st.File, st.DesiredHash, st.LiveHash = c.Repo, c.RepoID, c.File, c.DesiredHash, c.LiveHash
	if w != nil && w.RepoID != "" {
		st.RepoID = w.RepoID // a created repo's new id
	}
	st.Diff, st.Error = nil, errText(c.Err)
	st.Warnings, st.UnknownFields = warningLines(c.Warnings), c.UnknownFields
	st.CheckRefused, st.CheckNotes = c.CheckRefused, c.CheckNotes
	st.Held, st.Would = c.Held, lifecycleWould(c)
	base := Event{Repo: c.Repo, RepoID: st.RepoID, File: c.File}
	var events []Event

	var status vocab.Status
	switch c.Action {
	case vocab.ActionNoop:
		status = vocab.StatusSynced
		st.Writes, st.WritesOf = 0, ""
	case vocab.ActionInvalid:
		status = vocab.StatusInvalid
	case vocab.ActionMissing:
		status = vocab.StatusMissing
	case vocab.ActionOrphan:
		status = vocab.StatusOrphan
		st.DesiredHash = ""
	case vocab.ActionSuspended:
		status = vocab.StatusSuspended
		if c.Would.Writes() {
			st.Diff = diffStrings(c.Diff)
			if st.DriftSince == nil {
				t := f.now
				st.DriftSince = &t
				e := base
				e.Kind, e.Diff, e.Held = vocab.EventDriftDetected, st.Diff, vocab.HoldSuspended
				events = append(events, e)
			}
		}
	default: // update, reset, create, prune
		st.Diff = diffStrings(c.Diff)
		status = vocab.StatusDrifted
		if st.DriftSince == nil {
			t := f.now
			st.DriftSince = &t
			e := base
			e.Kind, e.Diff = vocab.EventDriftDetected, st.Diff
			events = append(events, e)
		}
		switch {
		case c.Stalled:
			status = vocab.StatusStalled
		case w != nil && w.Err != nil && c.Action == vocab.ActionCreate && errors.Is(w.Err, chainguard.ErrSourceRefused):
			// about the settings line, not the overlay: the file is
			// invalid until the source changes
			status = vocab.StatusInvalid
			st.Diff, st.Would, st.DriftSince = nil, "", nil
			st.Error = sourceProblem(c, refusalCause(w.Err)).String()
			e := base
			e.Kind, e.Action, e.Source, e.Reason, e.Attempts, e.At = vocab.EventWriteFailed, c.Action, c.Source, st.Error, w.Attempts, w.At
			events = append(events, e)
		case w != nil && w.Err != nil:
			status = vocab.StatusFailed
			st.WriteError = errText(w.Err)
			e := base
			e.Kind, e.Reason, e.Attempts, e.Transient = vocab.EventWriteFailed, st.WriteError, w.Attempts, w.Transient
			if c.Action == vocab.ActionCreate || c.Action == vocab.ActionPrune {
				e.Action, e.Source, e.At = c.Action, c.Source, w.At
			}
			events = append(events, e)
		case w != nil:
			at := w.At
			st.LastWrite, st.WriteError = &at, ""
			e := base
			e.Kind, e.Action, e.DesiredHash, e.Diff, e.Converged, e.At, e.Attempts =
				writtenKind(c.Action), c.Action, c.DesiredHash, st.Diff, w.Converged, w.At, w.Attempts
			e.Source = c.Source
			e.UnknownFields = c.UnknownFields
			if prev.DesiredHash != c.DesiredHash {
				e.Commit = f.commit
			}
			events = append(events, e)
			if w.Converged {
				status = vocab.StatusSynced
				if c.Action == vocab.ActionPrune {
					status = vocab.StatusPruned
				}
				st.Diff, st.LiveHash, st.Would = nil, c.DesiredHash, ""
			}
		}
		if w != nil && !w.Transient && status != vocab.StatusInvalid {
			if st.WritesOf != c.DesiredHash {
				st.Writes, st.WritesOf = 0, c.DesiredHash
			}
			st.Writes++
		}
	}
	if !status.Drifted() && (status != vocab.StatusSuspended || !c.Would.Writes()) {
		st.DriftSince = nil
	}
	st.Status = status
	if c.Held.Guard() && (prev.Held != c.Held || prev.Error != st.Error) {
		e := base
		e.Kind, e.Held, e.Action, e.Reason, e.Diff = vocab.EventRefused, c.Held, c.Action, st.Error, st.Diff
		events = append(events, e)
	}

	newProblem := (status == vocab.StatusInvalid || status == vocab.StatusMissing) && st.Error != prev.Error
	if status != prev.Status || newProblem {
		e := base
		e.Kind, e.From, e.To, e.Writes = vocab.EventStatusChanged, prev.Status, status, st.Writes
		switch status {
		case vocab.StatusInvalid, vocab.StatusMissing:
			e.Reason = st.Error
		case vocab.StatusFailed:
			e.Reason = st.WriteError
		}
		events = append(events, e)
		if status == vocab.StatusStalled {
			e := base
			e.Kind, e.Writes, e.Diff = vocab.EventStalled, st.Writes, st.Diff
			events = append(events, e)
		}
	}
	return st, events
}

// gone is the transition of a repo that no file names any more and that
// holds no overlay: the daemon forgets it.
func gone(prev store.RepoState) []Event {
	return []Event{{Kind: vocab.EventRepoGone, Repo: prev.Repo, RepoID: prev.RepoID, File: prev.File, From: prev.Status}}
}
