package reconciler

import (
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Sink consumes the events of a cycle, in the order the transitions
// returned them. Sinks run after the cycle's states are in the store, one at
// a time, on the cycle's goroutine: a sink that does slow work (a network
// call) hands it to its own goroutine.
type Sink interface {
	Handle(e Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Handle calls f(e).
func (f SinkFunc) Handle(e Event) { f(e) }

// dispatch hands every event to every sink.
func dispatch(sinks []Sink, events []Event) {
	for _, e := range events {
		for _, s := range sinks {
			s.Handle(e)
		}
	}
}

// metricsSink keeps the per-repo series: a repo's series change only when an
// event says something changed.
type metricsSink struct{ m *metrics.Metrics }

func (s metricsSink) Handle(e Event) {
	switch e.Kind {
	case vocab.EventStatusChanged:
		s.m.SetRepoStatus(e.Repo, e.From, e.To)
	case vocab.EventDriftDetected:
		s.m.ObserveDrift(e.Repo)
	case vocab.EventWritten:
		s.m.ObserveWrite(vocab.WriteSuccess)
		if !e.Commit.IsZero() {
			s.m.CommitToWrite.Observe(e.At.Sub(e.Commit).Seconds())
		}
	case vocab.EventWriteFailed:
		if e.Action == vocab.ActionCreate || e.Action == vocab.ActionPrune {
			s.m.ObserveLifecycleWrite(e.Action, vocab.WriteError)
		} else {
			s.m.ObserveWrite(vocab.WriteError)
		}
	case vocab.EventCreated, vocab.EventPruned:
		s.m.ObserveLifecycleWrite(e.Action, vocab.WriteSuccess)
		if !e.Commit.IsZero() {
			s.m.CommitToWrite.Observe(e.At.Sub(e.Commit).Seconds())
		}
	case vocab.EventRepoGone:
		s.m.DeleteRepo(e.Repo, e.From)
	}
}

// logSink writes one line per event that a person needs to see, with
// constant messages and typed fields.
type logSink struct{ log *zap.Logger }

func (s logSink) Handle(e Event) {
	fields := []zap.Field{zap.String("repo", e.Repo), zap.String("file", e.File)}
	switch e.Kind {
	case vocab.EventDriftDetected:
		if e.Held != "" {
			fields = append(fields, zap.String("held", string(e.Held)))
		}
		s.log.Info("drift detected", append(fields, zap.Strings("diff", e.Diff))...)
	case vocab.EventCreated:
		s.log.Info("repo created", append(fields,
			zap.String("repo_id", e.RepoID),
			zap.String("source", e.Source),
			zap.String("desired_hash", e.DesiredHash),
			zap.Strings("diff", e.Diff),
			zap.Bool("converged", e.Converged))...)
	case vocab.EventPruned:
		s.log.Info("repo pruned: its file is gone; overlay reset to empty", append(fields,
			zap.Strings("diff", e.Diff),
			zap.Bool("converged", e.Converged))...)
	case vocab.EventRefused:
		s.log.Error("write refused", append(fields,
			zap.String("action", string(e.Action)),
			zap.String("held", string(e.Held)),
			zap.String("reason", e.Reason))...)
	case vocab.EventWritten:
		fields = append(fields,
			zap.String("action", string(e.Action)),
			zap.String("desired_hash", e.DesiredHash),
			zap.Strings("diff", e.Diff),
			zap.Bool("converged", e.Converged))
		if e.UnknownFields > 0 {
			fields = append(fields, zap.Int("unknown_fields_kept", e.UnknownFields), zap.String("unknown_fields", store.UnknownFieldsNote(e.UnknownFields)))
		}
		s.log.Info("repo written", fields...)
	case vocab.EventWriteFailed:
		if e.Action != "" {
			fields = append(fields, zap.String("action", string(e.Action)))
		}
		if e.Source != "" {
			fields = append(fields, zap.String("source", e.Source))
		}
		s.log.Error("write failed", append(fields, zap.Int("attempts", e.Attempts), zap.String("error", e.Reason))...)
	case vocab.EventStalled:
		s.log.Error("repo stalled: writes do not converge; not writing again until its file changes",
			append(fields, zap.String("status", string(vocab.StatusStalled)), zap.Int("writes", e.Writes), zap.Strings("diff", e.Diff))...)
	case vocab.EventRepoGone:
		s.log.Info("repo no longer managed", zap.String("repo", e.Repo))
	case vocab.EventStatusChanged:
		fields = append(fields, zap.String("status", string(e.To)))
		switch e.To {
		case vocab.StatusInvalid, vocab.StatusMissing:
			s.log.Error("repo cannot be reconciled", append(fields, zap.String("reason", e.Reason))...)
		case vocab.StatusStalled:
			// logged by the stalled event, which follows
		case vocab.StatusFailed:
			s.log.Error("repo write failed", append(fields, zap.String("reason", e.Reason))...)
		case vocab.StatusOrphan:
			s.log.Warn("repo has an overlay but no file; leaving it untouched", fields...)
		case vocab.StatusSuspended:
			s.log.Info("repo suspended by the settings file: not written, created or pruned", fields...)
		default:
			s.log.Info("repo status changed", fields...)
		}
	}
}

// BuildWatcher follows the builds that a write starts.
type BuildWatcher interface {
	Watch(repo, repoID string, since time.Time)
}

// buildSink tells the build watcher about every successful write (a
// create and a prune included: both start builds).
type buildSink struct{ w BuildWatcher }

func (s buildSink) Handle(e Event) {
	switch e.Kind {
	case vocab.EventWritten, vocab.EventCreated, vocab.EventPruned:
		s.w.Watch(e.Repo, e.RepoID, e.At)
	}
}
