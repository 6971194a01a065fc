package reconciler

import (
	"time"

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
// themselves; update and reset are drifted, then stalled when the plan
// marked the repo stalled, failed when the write failed, and synced when the
// write converged. Entering drift from any other status is "drift
// detected". Successful writes and permanent failures count toward the
// stall limit for the desired hash written; a new hash starts the count
// again and synced clears it.
func next(prev store.RepoState, c Change, w *WriteResult, f facts) (store.RepoState, []Event) {
	st := prev
	st.Repo, st.RepoID, st.File, st.DesiredHash, st.LiveHash = c.Repo, c.RepoID, c.File, c.DesiredHash, c.LiveHash
	st.Diff, st.Error = nil, errText(c.Err)
	st.Warnings, st.UnknownFields = problemLines(c.Warnings), c.UnknownFields
	st.Refused, st.CheckNotes = c.Refused, c.CheckNotes
	base := Event{Repo: c.Repo, RepoID: c.RepoID, File: c.File}
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
	default: // update, reset
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
		case w != nil && w.Err != nil:
			status = vocab.StatusFailed
			st.WriteError = errText(w.Err)
			e := base
			e.Kind, e.Reason, e.Attempts = vocab.EventWriteFailed, st.WriteError, w.Attempts
			events = append(events, e)
		case w != nil:
			at := w.At
			st.LastWrite, st.WriteError = &at, ""
			e := base
			e.Kind, e.Action, e.DesiredHash, e.Diff, e.Converged, e.At, e.Attempts =
				vocab.EventWritten, c.Action, c.DesiredHash, st.Diff, w.Converged, w.At, w.Attempts
			e.UnknownFields = c.UnknownFields
			if prev.DesiredHash != c.DesiredHash {
				e.Commit = f.commit
			}
			events = append(events, e)
			if w.Converged {
				status = vocab.StatusSynced
				st.Diff, st.LiveHash = nil, c.DesiredHash
			}
		}
		if w != nil && !w.Transient {
			if st.WritesOf != c.DesiredHash {
				st.Writes, st.WritesOf = 0, c.DesiredHash
			}
			st.Writes++
		}
	}
	if !status.Drifted() {
		st.DriftSince = nil
	}
	st.Status = status

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
