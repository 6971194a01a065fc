package reconciler

import (
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// record folds a finished cycle into the per-repo state, the stall counters,
// the metrics and the log. Repos no longer named by a file nor orphaned lose
// their state and their metric series.
func (r *Reconciler) record(desired Desired, previous *Desired, fresh bool, snap gitsource.Snapshot, plan Plan, writes map[string]WriteResult) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()

	seen := make(map[string]bool, len(plan.Changes))
	for _, c := range plan.Changes {
		seen[c.Repo] = true
		st, ok := r.states[c.Repo]
		if !ok {
			st = &RepoState{Repo: c.Repo}
			r.states[c.Repo] = st
		}
		before := st.Status
		st.RepoID, st.File, st.DesiredHash, st.LiveHash = c.RepoID, c.File, c.DesiredHash, c.LiveHash
		st.Diff, st.Error = nil, ""
		if c.Err != nil {
			st.Error = joinErr(c.Err)
		}
		var status vocab.Status
		switch c.Action {
		case vocab.ActionNoop:
			status = vocab.StatusSynced
			delete(r.writes, c.Repo)
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
				t := now
				st.DriftSince = &t
				r.metrics.DriftDetected.WithLabelValues(c.Repo).Inc()
				r.log.Info("drift detected", zap.String("repo", c.Repo), zap.String("file", c.File), zap.Strings("diff", st.Diff))
			}
			w, written := writes[c.Repo]
			switch {
			case c.Stalled:
				status = vocab.StatusStalled
			case written && w.Err != nil:
				status = vocab.StatusFailed
				st.WriteError = joinErr(w.Err)
			case written:
				at := w.At
				st.LastWrite, st.WriteError = &at, ""
				if w.Converged {
					status = vocab.StatusSynced
					st.Diff, st.LiveHash = nil, c.DesiredHash
				}
				if fresh && (previous == nil || previous.Repos[c.Repo].Hash != c.DesiredHash) && !snap.CommitTime.IsZero() {
					r.metrics.CommitToWrite.Observe(now.Sub(snap.CommitTime).Seconds())
				}
			}
			if written && countsTowardStall(w) {
				wc := r.writes[c.Repo]
				if wc.hash != c.DesiredHash {
					wc = writeCount{hash: c.DesiredHash}
				}
				wc.n++
				r.writes[c.Repo] = wc
			}
		}
		if !status.Drifted() {
			st.DriftSince = nil
		}
		st.Writes = r.writes[c.Repo].n
		st.Status = status
		if status != before || (fresh && (status == vocab.StatusInvalid || status == vocab.StatusMissing)) {
			r.logStatus(st)
		}
		r.metrics.SetRepoStatus(c.Repo, status)
	}
	for repo := range r.states {
		if !seen[repo] {
			delete(r.states, repo)
			delete(r.writes, repo)
			r.metrics.DeleteRepo(repo)
			r.log.Info("repo no longer managed", zap.String("repo", repo))
		}
	}
	valid, invalid, ignored := desired.Counts()
	r.metrics.Files.WithLabelValues("valid").Set(float64(valid))
	r.metrics.Files.WithLabelValues("invalid").Set(float64(invalid))
	r.metrics.Files.WithLabelValues("ignored").Set(float64(ignored))
	r.status.Files = FileCounts{Valid: valid, Invalid: invalid, Ignored: ignored}
	r.status.Ignored = desired.Ignored
}

func (r *Reconciler) logStatus(st *RepoState) {
	fields := []zap.Field{zap.String("repo", st.Repo), zap.String("file", st.File), zap.String("status", string(st.Status))}
	switch st.Status {
	case vocab.StatusInvalid, vocab.StatusMissing:
		r.log.Error("repo cannot be reconciled", append(fields, zap.String("reason", st.Error))...)
	case vocab.StatusStalled:
		r.log.Error("repo stalled: writes do not converge; not writing again until its file changes", append(fields, zap.Int("writes", st.Writes), zap.Strings("diff", st.Diff))...)
	case vocab.StatusFailed:
		r.log.Error("repo write failed", append(fields, zap.String("reason", st.WriteError))...)
	case vocab.StatusOrphan:
		r.log.Warn("repo has an overlay but no file; leaving it untouched", fields...)
	default:
		r.log.Info("repo status changed", fields...)
	}
}
