package reconciler

import (
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// The lifecycle's side effects, at the edge of a cycle: remembering refused
// sources, and publishing the settings file and what pruning decided to the
// store, the metrics and the log.

// SourceRetry is how long a source the service refused for a repo is not
// tried again while the file and the source stay the same: the repo is
// invalid meanwhile, with the refusal at the source's line. A new source,
// a changed file or a restart tries at once.
const SourceRetry = time.Hour

// timedRefusal is a refusal and when it happened.
type timedRefusal struct {
	refusal
	at time.Time
}

// refusals returns the refused sources younger than SourceRetry, for the
// plan.
func (r *Reconciler) refusals() map[string]refusal {
	now := r.clock.Now()
	out := make(map[string]refusal, len(r.refused))
	for repo, t := range r.refused {
		if now.Sub(t.at) < SourceRetry {
			out[repo] = t.refusal
		} else {
			delete(r.refused, repo)
		}
	}
	return out
}

// recordRefusals remembers the sources this cycle's creates were refused,
// and forgets the refusals of repos that no longer wait for a create.
func (r *Reconciler) recordRefusals(plan Plan, writes map[string]WriteResult) {
	names := make(map[string]bool, len(plan.Changes))
	for _, c := range plan.Changes {
		names[c.Repo] = true
		if w, ok := writes[c.Repo]; ok && c.Action == vocab.ActionCreate && errors.Is(w.Err, chainguard.ErrSourceRefused) {
			r.refused[c.Repo] = timedRefusal{refusal{source: c.Source, desiredHash: c.DesiredHash, cause: refusalCause(w.Err)}, w.At}
			continue
		}
		if c.Action != vocab.ActionInvalid && c.Action != vocab.ActionCreate {
			delete(r.refused, c.Repo)
		}
	}
	for repo := range r.refused {
		if !names[repo] {
			delete(r.refused, repo)
		}
	}
}

// recordLifecycle publishes what the plan held back (ca_reconciler_held_repos)
// and what pruning decided (/status, and a log line when a refusal starts,
// changes or ends).
func (r *Reconciler) recordLifecycle(plan Plan) {
	held := map[vocab.HoldReason]int{}
	for _, c := range plan.Changes {
		if c.Held != "" {
			held[c.Held]++
		}
	}
	r.metrics.SetHeld(held)
	var info *store.PruneInfo
	if plan.Prune.Enabled {
		info = &store.PruneInfo{Limit: plan.Prune.Limit, Candidates: slices.Clone(plan.Prune.Candidates), Held: plan.Prune.Held, Reason: plan.Prune.Reason}
	}
	var before *store.PruneInfo
	r.store.Update(func(h *store.Status) { before, h.Prune = h.Prune, info })
	if info == nil {
		return
	}
	was := store.PruneInfo{}
	if before != nil {
		was = *before
	}
	switch {
	case info.Held != "" && (info.Held != was.Held || info.Reason != was.Reason):
		r.log.Error("pruning refused", zap.String("held", string(info.Held)), zap.String("reason", info.Reason),
			zap.Strings("repos", info.Candidates), zap.Int("prune_limit", info.Limit))
	case info.Held == "" && was.Held != "":
		r.log.Info("pruning no longer refused", zap.Strings("repos", info.Candidates))
	}
}

// recordSettings publishes a newly parsed revision's settings file (/status,
// ca_reconciler_files) and logs it, with its problems, when it changed.
func (r *Reconciler) recordSettings(d Desired) {
	valid, invalid := 0.0, 0.0
	var info *store.SettingsInfo
	if d.SettingsFile != "" {
		info = &store.SettingsInfo{File: d.SettingsFile, Valid: d.SettingsErr == nil, Repos: len(d.Settings.Repos)}
		for _, name := range d.Settings.Names() {
			s := d.Settings.Repo(name)
			if s.Suspend {
				info.Suspended = append(info.Suspended, name)
			}
			if s.Source != "" {
				info.Sources = append(info.Sources, name)
			}
		}
		var ps overlay.Problems
		if errors.As(d.SettingsErr, &ps) {
			for _, p := range ps {
				info.Errors = append(info.Errors, p.String())
			}
		} else if d.SettingsErr != nil {
			info.Errors = []string{d.SettingsErr.Error()}
		}
		for _, w := range d.SettingsWarnings {
			info.Warnings = append(info.Warnings, w.String())
		}
		if info.Valid {
			valid = 1
		} else {
			invalid = 1
		}
	}
	r.metrics.Files.WithLabelValues(string(vocab.FileSettings)).Set(valid)
	r.metrics.Files.WithLabelValues(string(vocab.FileSettingsInvalid)).Set(invalid)
	var before *store.SettingsInfo
	r.store.Update(func(h *store.Status) { before, h.Settings = h.Settings, info })
	if info == nil || (before != nil && settingsEqual(*before, *info)) {
		return
	}
	if !info.Valid {
		r.log.Error("settings file invalid: nothing is written, created or pruned until it is fixed",
			zap.String("file", info.File), zap.Strings("errors", info.Errors))
		return
	}
	for _, w := range info.Warnings {
		r.log.Warn("settings file warning", zap.String("file", info.File), zap.String("warning", w))
	}
	r.log.Info("settings file read", zap.String("file", info.File), zap.Int("repos", info.Repos),
		zap.Strings("suspended", info.Suspended), zap.Strings("sources", info.Sources))
}

func settingsEqual(a, b store.SettingsInfo) bool {
	return a.File == b.File && a.Valid == b.Valid && a.Repos == b.Repos && slices.Equal(a.Suspended, b.Suspended) &&
		slices.Equal(a.Sources, b.Sources) && slices.Equal(a.Errors, b.Errors) && slices.Equal(a.Warnings, b.Warnings)
}
