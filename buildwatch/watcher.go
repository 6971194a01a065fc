package buildwatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"chainguard.dev/sdk/uidp"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/clock"
	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Defaults for Config.
const (
	DefaultPollInterval  = 15 * time.Second
	DefaultSweepInterval = time.Minute
	DefaultTimeout       = time.Hour
	DefaultGrace         = 5 * time.Minute
	DefaultSkew          = time.Minute
	DefaultLogLines      = 20
)

// API is what the watcher needs of the Chainguard API (chainguard.Client).
type API interface {
	// ListBuilds lists the build reports under scopeID (an organization)
	// started at or after since, without logs.
	ListBuilds(ctx context.Context, scopeID string, since time.Time) ([]chainguard.Build, error)
	// BuildLog fetches one build's log.
	BuildLog(ctx context.Context, b chainguard.Build) (string, error)
}

// Repos is what the watcher needs of the daemon's store (store.Store): the
// repos whose builds are counted, and where a finished build is recorded.
type Repos interface {
	// RepoIDs maps the id of every repo whose builds are counted to its
	// name.
	RepoIDs() map[string]string
	// RecordBuild stores a repo's last build; false for a repo the store
	// does not know.
	RecordBuild(repo string, b store.BuildInfo) bool
}

// Result is one finished build.
type Result struct {
	Repo    string
	RepoID  string
	BuildID string
	// Result is success, failure or timeout.
	Result  vocab.BuildResult
	Started time.Time
	// Finished is when the build completed, or when it was declared timed
	// out.
	Finished time.Time
	// Completed is false for a build declared timed out while still
	// pending.
	Completed bool
	// LogTail is the end of a failed build's log, when it could be read.
	LogTail []string
}

// Duration is how long the build ran.
func (r Result) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Config configures a Watcher.
type Config struct {
	API     API
	Metrics *metrics.Metrics
	Logger  *zap.Logger
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Repos are the repos whose builds are counted (the daemon's store),
	// and where each one's last build is recorded for /status. Builds of
	// other repos are ignored, except those of a repo passed to Watch. When
	// nil, every watched build is counted and nothing is recorded.
	Repos Repos
	// OnResult, if set, is told every finished build, after it is
	// counted and recorded.
	OnResult func(Result)
	// PollInterval is the time between ticks while builds are in flight.
	PollInterval time.Duration
	// SweepInterval is how often every organization is polled even when
	// nothing is in flight, to see builds Chainguard started on its own.
	SweepInterval time.Duration
	// Timeout is the build limit: a build pending for longer counts as
	// timed out and is no longer polled; so does a build that failed after
	// running that long.
	Timeout time.Duration
	// Grace is how long a watched write waits for its first build to show
	// up before the watcher stops polling for it.
	Grace time.Duration
	// Skew is how far back every poll reaches beyond the previous one, so
	// that a clock difference with the API cannot hide a build.
	Skew time.Duration
	// LogLines is how many last lines of a failed build's log are logged.
	LogLines int
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	defaults.Positive(&c.PollInterval, DefaultPollInterval)
	defaults.Positive(&c.SweepInterval, DefaultSweepInterval)
	defaults.Positive(&c.Timeout, DefaultTimeout)
	defaults.Positive(&c.Grace, DefaultGrace)
	if c.Skew < 0 {
		c.Skew = 0
	} else if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	defaults.Positive(&c.LogLines, DefaultLogLines)
}

// Watcher follows builds. Create it with New, run it with Run.
type Watcher struct {
	cfg Config
	log *zap.Logger

	pollMu sync.Mutex // one Poll at a time

	mu       sync.Mutex // guards the fields below
	orgs     map[string]*org
	watches  map[string]*watch   // by repo id
	inflight map[string]*flight  // by build id
	done     map[string]finished // builds counted, while a poll could still list them
	// unreported counts, by repo id, the finished builds not yet handed
	// to OnResult, so that Busy stays true until they are.
	unreported map[string]int
	lastSweep  time.Time
}

// org is the polling state of one organization.
type org struct {
	// cursor is where the next poll starts when nothing older is in
	// flight: the previous poll's start, minus the skew.
	cursor time.Time
	// floor is the earliest start a poll may ask for: counted builds that
	// started before it have been forgotten, so listing them again would
	// count them twice.
	floor time.Time
}

// watch is a write whose builds have not been seen yet.
type watch struct {
	repo     string
	since    time.Time
	deadline time.Time
}

// flight is a build seen pending.
type flight struct {
	repo  string
	build chainguard.Build
}

type finished struct {
	org     string
	started time.Time
}

// New returns a Watcher. API and Metrics must be set.
func New(cfg Config) (*Watcher, error) {
	if cfg.API == nil || cfg.Metrics == nil {
		return nil, errors.New("build watcher: API and Metrics must be set")
	}
	cfg.defaults()
	return &Watcher{
		cfg:        cfg,
		log:        cfg.Logger,
		orgs:       map[string]*org{},
		watches:    map[string]*watch{},
		inflight:   map[string]*flight{},
		done:       map[string]finished{},
		unreported: map[string]int{},
		lastSweep:  cfg.Clock.Now(),
	}, nil
}

// Watch follows the builds of repo (id repoID) that start at or after since:
// the reconciler calls it after each successful write.
func (w *Watcher) Watch(repo, repoID string, since time.Time) {
	orgID := orgOf(repoID)
	if orgID == "" {
		w.log.Warn("not watching builds of a repo with an unexpected id", zap.String("repo", repo), zap.String("repo_id", repoID))
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.orgLocked(orgID)
	if old, ok := w.watches[repoID]; ok && old.since.Before(since) {
		since = old.since
	}
	w.watches[repoID] = &watch{repo: repo, since: since, deadline: since.Add(w.cfg.Grace)}
}

// orgLocked returns an organization's state, created with its cursor at the
// watcher's start.
func (w *Watcher) orgLocked(id string) *org {
	o, ok := w.orgs[id]
	if !ok {
		o = &org{cursor: w.lastSweep.Add(-w.cfg.Skew)}
		w.orgs[id] = o
	}
	return o
}

// Busy reports whether the watcher still follows builds of the repo: a
// write waiting for its first build, a build seen pending, or a finished
// build not yet handed to OnResult.
func (w *Watcher) Busy(repoID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unreported[repoID] > 0 {
		return true
	}
	if _, ok := w.watches[repoID]; ok {
		return true
	}
	for _, f := range w.inflight {
		if f.build.RepoID == repoID {
			return true
		}
	}
	return false
}

// InFlight returns the number of builds being followed.
func (w *Watcher) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inflight)
}

// Run polls every PollInterval until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.cfg.Clock.After(w.cfg.PollInterval):
			w.Poll(ctx)
		}
	}
}

// Poll runs one tick: it declares timed out the builds pending longer than
// the limit, then lists the builds of every organization that has a build
// in flight or a write waiting for its builds (and of every known
// organization when the sweep is due), one call per organization, and
// reports the builds that finished. A tick with nothing to follow and no
// sweep due makes no call.
func (w *Watcher) Poll(ctx context.Context) {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	now := w.cfg.Clock.Now()

	var results []Result
	w.mu.Lock()
	for id, f := range w.inflight {
		if now.Sub(f.build.StartedAt) >= w.cfg.Timeout {
			results = append(results, w.finishLocked(f.repo, f.build, vocab.BuildTimeout, now, false))
			delete(w.inflight, id)
		}
	}
	for repoID, wt := range w.watches {
		if !now.Before(wt.deadline) {
			w.log.Debug("no build seen after a write; no longer waiting for one", zap.String("repo", wt.repo), zap.Time("written", wt.since))
			delete(w.watches, repoID)
		}
	}
	due := map[string]bool{}
	for _, f := range w.inflight {
		due[orgOf(f.build.RepoID)] = true
	}
	for repoID := range w.watches {
		due[orgOf(repoID)] = true
	}
	sweep := now.Sub(w.lastSweep) >= w.cfg.SweepInterval
	w.mu.Unlock()

	var names map[string]string
	if sweep || len(due) > 0 {
		names = w.repoNames()
	}
	if sweep {
		for repoID := range names {
			if o := orgOf(repoID); o != "" {
				due[o] = true
			}
		}
	}

	orgIDs := slices.Sorted(maps.Keys(due))
	for _, o := range orgIDs {
		results = append(results, w.pollOrg(ctx, o, now, names)...)
	}

	w.mu.Lock()
	if sweep {
		w.lastSweep = now
	}
	w.cfg.Metrics.BuildsInFlight.Set(float64(len(w.inflight)))
	w.mu.Unlock()

	if names == nil && len(results) > 0 {
		names = w.repoNames()
	}
	for _, r := range results {
		// A repo whose file was removed (and whose series the reconciler
		// deleted) while its build was in flight is logged but not
		// counted, so that its series do not come back.
		_, known := names[r.RepoID]
		w.report(ctx, r, known || w.cfg.Repos == nil)
	}
}

// repoNames is the configured map of repo ids to names.
func (w *Watcher) repoNames() map[string]string {
	if w.cfg.Repos == nil {
		return map[string]string{}
	}
	return w.cfg.Repos.RepoIDs()
}

// pollOrg lists one organization's builds and folds them in.
func (w *Watcher) pollOrg(ctx context.Context, orgID string, now time.Time, names map[string]string) []Result {
	w.mu.Lock()
	since := w.sinceLocked(orgID)
	w.mu.Unlock()

	builds, err := w.cfg.API.ListBuilds(ctx, orgID, since)
	if err != nil {
		w.log.Warn("listing builds failed; will retry", zap.String("org_id", orgID), zap.Error(err))
		return nil
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	var results []Result
	listed := make(map[string]bool, len(builds))
	for _, b := range builds {
		listed[b.ID] = true
		if _, ok := w.done[b.ID]; ok {
			continue
		}
		repo := names[b.RepoID]
		if wt, ok := w.watches[b.RepoID]; ok {
			if repo == "" {
				repo = wt.repo
			}
			if !b.StartedAt.Before(wt.since.Add(-w.cfg.Skew)) {
				delete(w.watches, b.RepoID)
			}
		}
		if repo == "" {
			continue // not a repo the daemon knows
		}
		switch b.Result {
		case chainguard.BuildPending:
			if now.Sub(b.StartedAt) >= w.cfg.Timeout {
				results = append(results, w.finishLocked(repo, b, vocab.BuildTimeout, now, false))
				delete(w.inflight, b.ID)
				continue
			}
			if _, ok := w.inflight[b.ID]; !ok {
				w.log.Info("build started", zap.String("repo", repo), zap.String("build_id", b.ID), zap.Time("started", b.StartedAt))
			}
			w.inflight[b.ID] = &flight{repo: repo, build: b}
		default:
			result := vocab.BuildSuccess
			if b.Result != chainguard.BuildSuccess {
				result = vocab.BuildFailure
				if b.CompletedAt.Sub(b.StartedAt) >= w.cfg.Timeout {
					result = vocab.BuildTimeout
				}
			}
			results = append(results, w.finishLocked(repo, b, result, b.CompletedAt, true))
			delete(w.inflight, b.ID)
		}
	}
	// A build in flight that a poll covering its start no longer lists is
	// gone (its repo was deleted, or its report expired).
	for id, f := range w.inflight {
		if orgOf(f.build.RepoID) == orgID && !listed[id] && !f.build.StartedAt.Before(since) {
			w.log.Warn("build in flight no longer listed; no longer following it", zap.String("repo", f.repo), zap.String("build_id", id))
			delete(w.inflight, id)
		}
	}
	w.orgLocked(orgID).cursor = now.Add(-w.cfg.Skew)
	// Forget counted builds that no later poll of this organization can
	// list again.
	next := w.sinceLocked(orgID)
	w.orgs[orgID].floor = next
	for id, d := range w.done {
		if d.org == orgID && d.started.Before(next) {
			delete(w.done, id)
		}
	}
	return results
}

// sinceLocked is where the next poll of an organization starts: its cursor,
// or earlier when a build in flight or a watched write is older, but never
// before its floor.
func (w *Watcher) sinceLocked(orgID string) time.Time {
	o := w.orgLocked(orgID)
	since := o.cursor
	for _, f := range w.inflight {
		if orgOf(f.build.RepoID) == orgID && f.build.StartedAt.Before(since) {
			since = f.build.StartedAt
		}
	}
	for repoID, wt := range w.watches {
		if s := wt.since.Add(-w.cfg.Skew); orgOf(repoID) == orgID && s.Before(since) {
			since = s
		}
	}
	if since.Before(o.floor) {
		since = o.floor
	}
	return since
}

// finishLocked marks a build counted and returns its result.
func (w *Watcher) finishLocked(repo string, b chainguard.Build, result vocab.BuildResult, at time.Time, completed bool) Result {
	w.done[b.ID] = finished{org: orgOf(b.RepoID), started: b.StartedAt}
	w.unreported[b.RepoID]++
	return Result{Repo: repo, RepoID: b.RepoID, BuildID: b.ID, Result: result, Started: b.StartedAt, Finished: at, Completed: completed}
}

// report counts a finished build (when count is set), fetches a failed
// build's log, logs it, and tells OnResult.
func (w *Watcher) report(ctx context.Context, r Result, count bool) {
	seconds := -1.0
	if r.Completed {
		seconds = r.Duration().Seconds()
	}
	if count {
		w.cfg.Metrics.ObserveBuild(r.Repo, r.Result, seconds)
		if w.cfg.Repos != nil {
			w.cfg.Repos.RecordBuild(r.Repo, store.BuildInfo{ID: r.BuildID, Result: r.Result, Finished: r.Finished, Seconds: r.Duration().Seconds()})
		}
	}
	fields := []zap.Field{
		zap.String("repo", r.Repo),
		zap.String("build_id", r.BuildID),
		zap.String("result", string(r.Result)),
		zap.Time("started", r.Started),
		zap.Duration("duration", r.Duration()),
	}
	switch {
	case r.Result == vocab.BuildSuccess:
		w.log.Info("build succeeded", fields...)
	case !r.Completed:
		w.log.Error("build timed out; no longer following it", append(fields, zap.Duration("limit", w.cfg.Timeout))...)
	default:
		tail, err := w.logTail(ctx, r)
		if err != nil {
			w.log.Error("build failed; its log could not be read", append(fields, zap.NamedError("log_error", err))...)
			break
		}
		r.LogTail = tail
		w.log.Error("build failed", append(fields, zap.Strings("log_tail", tail))...)
	}
	w.mu.Lock()
	if w.unreported[r.RepoID]--; w.unreported[r.RepoID] <= 0 {
		delete(w.unreported, r.RepoID)
	}
	w.mu.Unlock()
	if w.cfg.OnResult != nil {
		w.cfg.OnResult(r)
	}
}

// logTail reads a finished build's log and returns its last lines.
func (w *Watcher) logTail(ctx context.Context, r Result) ([]string, error) {
	log, err := w.cfg.API.BuildLog(ctx, chainguard.Build{ID: r.BuildID, RepoID: r.RepoID, StartedAt: r.Started})
	if err != nil {
		return nil, fmt.Errorf("reading the log of build %s: %w", r.BuildID, err)
	}
	return lastLines(log, w.cfg.LogLines), nil
}

// orgOf is the group holding a repo (its organization), the scope of the
// build listing; "" for an id that has no parent.
func orgOf(repoID string) string {
	p := uidp.Parent(repoID)
	if p == "/" || p == "." {
		return ""
	}
	return p
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
