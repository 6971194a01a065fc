package reconciler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/clock"
	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Source yields snapshots of the desired state (gitsource.Source).
type Source interface {
	Fetch(ctx context.Context) (gitsource.Snapshot, gitsource.Result, error)
}

// verifiedSource is a Source that can fall back to its last verified
// snapshot when the head fails signature verification.
type verifiedSource interface {
	LastVerified() (gitsource.Snapshot, bool)
}

// Registry is the live side (chainguard.Client).
type Registry interface {
	ResolveOrg(ctx context.Context, nameOrID string) (chainguard.Org, error)
	ListRepos(ctx context.Context, orgID string, opts ...chainguard.ListOption) ([]chainguard.Repo, error)
	WriteOverlay(ctx context.Context, repoID string, o overlay.Overlay) (chainguard.Repo, error)
	CreateRepo(ctx context.Context, orgID, name, source string, o overlay.Overlay) (chainguard.Repo, error)
}

// Config configures a Reconciler.
type Config struct {
	// Org is the organization's name or id.
	Org string
	// Dir is the folder in the Git repo holding the files, for messages.
	Dir string
	// Ref is the Git ref being followed, for status.
	Ref string
	// Mode is apply (default) or detect.
	Mode vocab.Mode
	// Interval between cycles (jittered by up to Jitter, a fraction).
	Interval time.Duration
	Jitter   float64
	// TriggerSpacing is the least time between the starts of two cycles
	// asked for by Trigger (default DefaultTriggerSpacing); see nextCycle.
	TriggerSpacing time.Duration
	// Concurrency bounds parallel writes (default 4).
	Concurrency int
	// MaxWrites is how many writes of one desired overlay may fail to
	// converge before the repo is stalled (default 3).
	MaxWrites int
	// Retries is how many times a retryable write failure is retried
	// within a cycle (default 3), starting RetryInitial apart (default
	// 500ms) with jittered exponential backoff.
	Retries      int
	RetryInitial time.Duration
	// Warnings are logged at the start of every cycle (e.g. a plaintext
	// API connection), so that they cannot scroll out of sight.
	Warnings []string
	// Policy is what the lifecycle may do beyond updates (pruning); the
	// Source must then read the history (gitsource.Config.History).
	Policy Policy
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = vocab.ModeApply
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.TriggerSpacing <= 0 {
		c.TriggerSpacing = DefaultTriggerSpacing
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxWrites <= 0 {
		c.MaxWrites = 3
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 3
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 500 * time.Millisecond
	}
	c.Policy.PruneLimit = c.Policy.limit()
}

// Reconciler runs cycles. Create it with New.
type Reconciler struct {
	cfg     Config
	src     Source
	reg     Registry
	log     *zap.Logger
	metrics *metrics.Metrics
	clock   clock.Clock
	store   *store.Store
	sinks   []Sink
	cycles  []func(Report)
	trigger chan vocab.Trigger
	rand    *rand.Rand

	cycleMu sync.Mutex // one cycle at a time; guards the fields below
	orgID   string
	desired *Desired
	cache   parseCache
	live    *liveHashes
	refused map[string]timedRefusal // by repo: sources the service refused
	orgName string                  // the organization's name, for the package check's messages
	check   *checkState             // nil without a package check (check.go)
}

// Option customizes a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock (default the wall clock).
func WithClock(c clock.Clock) Option { return func(r *Reconciler) { r.clock = c } }

// WithBuildWatcher sets who follows builds after writes.
func WithBuildWatcher(w BuildWatcher) Option {
	return func(r *Reconciler) { r.sinks = append(r.sinks, buildSink{w}) }
}

// WithStore sets the store the reconciler writes (default a new one): the
// daemon shares one with the build watcher and the status page.
func WithStore(s *store.Store) Option { return func(r *Reconciler) { r.store = s } }

// WithSink adds a consumer of the cycle's events, after the metrics and
// the log.
func WithSink(s Sink) Option { return func(r *Reconciler) { r.sinks = append(r.sinks, s) } }

// WithCycleObserver adds a function told every finished cycle's Report,
// after its events went to the sinks, on the cycle's goroutine (it must not
// block: commit statuses hand the report to their own goroutine).
func WithCycleObserver(f func(Report)) Option {
	return func(r *Reconciler) { r.cycles = append(r.cycles, f) }
}

// WithRand sets the random source used for jitter.
func WithRand(rnd *rand.Rand) Option { return func(r *Reconciler) { r.rand = rnd } }

// New returns a Reconciler. log and m must not be nil.
func New(cfg Config, src Source, reg Registry, log *zap.Logger, m *metrics.Metrics, opts ...Option) *Reconciler {
	cfg.defaults()
	r := &Reconciler{
		cfg:     cfg,
		src:     src,
		reg:     reg,
		log:     log,
		metrics: m,
		clock:   clock.Real{},
		trigger: make(chan vocab.Trigger, 1),
		rand:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		sinks:   []Sink{metricsSink{m}, logSink{log}},
		live:    newLiveHashes(),
		refused: map[string]timedRefusal{},
	}
	for _, o := range opts {
		o(r)
	}
	if r.store == nil {
		r.store = store.New()
	}
	r.store.Update(func(h *store.Status) { h.Org, h.Mode, h.Ref = cfg.Org, cfg.Mode, cfg.Ref })
	if r.check != nil {
		r.store.Update(func(h *store.Status) { h.PackageCheck = &store.PackageCheckInfo{} })
	}
	return r
}

// Report is the outcome of one cycle.
type Report struct {
	Trigger  vocab.Trigger
	Revision string
	Plan     Plan
	// Writes are the results of the writes made, by repo.
	Writes map[string]WriteResult
	// Err is set when the cycle could not read Git or the API; nothing was
	// written then. FailedDependency says which.
	Err              error
	FailedDependency vocab.Dependency
	// Result is success, partial or error.
	Result vocab.CycleResult
	// Parsed and Reused count the files this cycle read and parsed, and
	// those whose parse it reused (unchanged blobs); both are zero while
	// the revision does not move.
	Parsed, Reused int
	// LiveHashed counts the live overlays this cycle canonicalized and
	// hashed: only those that changed since the previous cycle.
	LiveHashed int
	// Events counts the events the cycle's transitions emitted.
	Events int
}

// WriteResult is the outcome of writing one repo.
type WriteResult struct {
	Err error
	// Transient is set when Err is a transient failure (the API was
	// unavailable, the cycle was cancelled): it does not count toward
	// stalling the repo, so an outage never stalls anything.
	Transient bool
	// Converged is true when the repo read back equals the file.
	Converged bool
	// At is when the write finished.
	At time.Time
	// Attempts is how many calls the write took (retries included).
	Attempts int
	// RepoID is the id of the repo written, as the API answered (the new
	// repo's, for a create); empty when the write failed.
	RepoID string
}

// Status returns what the store knows now.
func (r *Reconciler) Status() store.Status { return r.store.Status() }

// Store is the store the reconciler writes.
func (r *Reconciler) Store() *store.Store { return r.store }

// Plan runs a read-only cycle: it reads Git and the API and returns the plan,
// writing nothing and changing no status or metric.
func (r *Reconciler) Plan(ctx context.Context) (Plan, error) {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	snap, _, err := r.src.Fetch(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("reading desired state: %w", err)
	}
	desired := r.parse(snap)
	if desired.Err != nil {
		return Plan{}, fmt.Errorf("reading desired state: %w", desired.Err)
	}
	live, err := r.readLive(ctx, &desired)
	if err != nil {
		return Plan{}, err
	}
	plan, _ := r.checkPackages(ctx, ComputeWith(desired, live, nil, r.cfg.Policy), &desired)
	return plan, nil
}

// RunOnce runs one cycle. trigger is recorded in metrics (start, interval,
// webhook).
func (r *Reconciler) RunOnce(ctx context.Context, trigger vocab.Trigger) Report {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	start := r.clock.Now()
	rep := r.cycle(ctx)
	rep.Trigger = trigger
	end := r.clock.Now()
	r.metrics.ReconcileDuration.WithLabelValues(string(vocab.PhaseTotal)).Observe(end.Sub(start).Seconds())
	r.metrics.Reconciles.WithLabelValues(string(trigger), string(rep.Result)).Inc()
	r.metrics.LastReconcile.Set(float64(end.Unix()))
	if rep.Result == vocab.CycleSuccess {
		r.metrics.LastSuccessfulReconcile.Set(float64(end.Unix()))
	}
	info := &store.CycleInfo{Trigger: trigger, Started: start, Finished: end, Result: rep.Result, Revision: rep.Revision, Writes: len(rep.Writes)}
	if rep.Err != nil {
		info.Error, info.FailedDependency = rep.Err.Error(), rep.FailedDependency
	}
	r.store.Update(func(h *store.Status) {
		h.LastCycle = info
		h.Ready = true
	})
	fields := []zap.Field{zap.String("trigger", string(trigger)), zap.String("result", string(rep.Result)), zap.String("revision", rep.Revision), zap.Int("writes", len(rep.Writes)), zap.Duration("duration", end.Sub(start))}
	if rep.Err != nil {
		r.log.Error("reconcile failed", append(fields, zap.Error(rep.Err))...)
	} else {
		r.log.Info("reconcile finished", fields...)
	}
	for _, f := range r.cycles {
		f(rep)
	}
	return rep
}

func (r *Reconciler) phase(name vocab.Phase, start time.Time) {
	r.metrics.ReconcileDuration.WithLabelValues(string(name)).Observe(r.clock.Now().Sub(start).Seconds())
}

func (r *Reconciler) cycle(ctx context.Context) Report {
	rep := Report{Result: vocab.CycleError}
	for _, w := range r.cfg.Warnings {
		r.log.Warn(w)
	}

	// fetch
	t := r.clock.Now()
	snap, res, err := r.src.Fetch(ctx)
	r.metrics.GitFetchDuration.Observe(r.clock.Now().Sub(t).Seconds())
	r.phase(vocab.PhaseFetch, t)
	verified := true
	if err != nil {
		r.metrics.GitFetches.WithLabelValues(string(vocab.FetchError)).Inc()
		vs, ok := r.src.(verifiedSource)
		if !errors.Is(err, gitsource.ErrUnverified) || !ok {
			rep.Err, rep.FailedDependency = fmt.Errorf("reading desired state: %w", err), vocab.DependencyGit
			return rep
		}
		last, have := vs.LastVerified()
		r.metrics.SourceVerified.Set(0)
		r.log.Warn("head commit is not signed by a trusted key; keeping the last verified revision", zap.Error(err), zap.String("kept_revision", last.Revision))
		if !have {
			rep.Err, rep.FailedDependency = fmt.Errorf("reading desired state: %w", err), vocab.DependencyGit
			r.setVerified(false)
			return rep
		}
		snap, verified = last, false
	} else {
		r.metrics.GitFetches.WithLabelValues(string(fetchResult(res))).Inc()
		r.metrics.SourceVerified.Set(1)
	}
	r.setVerified(verified)
	rep.Revision = snap.Revision
	r.metrics.SetSource(r.cfg.Ref, snap.Revision, float64(snap.CommitTime.Unix()))
	fetched := r.clock.Now()
	r.store.Update(func(h *store.Status) {
		h.Revision = snap.Revision
		if verified {
			h.LastFetch = fetched
		}
	})

	// parse (reused while the revision is unchanged)
	t = r.clock.Now()
	previous := r.desired
	desired := r.parse(snap)
	r.phase(vocab.PhaseParse, t)
	if previous == nil || previous.Revision != desired.Revision {
		rep.Parsed, rep.Reused = desired.Parsed, desired.Reused
	}
	if desired.Err != nil {
		rep.Err, rep.FailedDependency = fmt.Errorf("reading desired state: %w", desired.Err), vocab.DependencyGit
		return rep
	}
	r.desired = &desired
	if previous == nil || previous.Revision != desired.Revision {
		r.recordFiles(previous, desired)
		r.recordSettings(desired)
	}

	// read live
	t = r.clock.Now()
	live, err := r.readLive(ctx, &desired)
	r.phase(vocab.PhaseReadLive, t)
	if err != nil {
		rep.Err, rep.FailedDependency = err, vocab.DependencyAPI
		return rep
	}
	read := r.clock.Now()
	r.store.Update(func(h *store.Status) { h.LastLiveRead = read })

	// plan
	t = r.clock.Now()
	stalled := r.stalled()
	plan := lifecycle(compute(desired, live, r.live.hashes(live), stalled), desired, r.cfg.Policy, stalled, r.refusals())
	rep.LiveHashed = r.live.hashed
	r.phase(vocab.PhasePlan, t)

	// package check (of the repos about to be written)
	t = r.clock.Now()
	plan, check := r.checkPackages(ctx, plan, &desired)
	rep.Plan = plan
	r.phase(vocab.PhasePackageCheck, t)

	// apply
	t = r.clock.Now()
	if r.cfg.Mode == vocab.ModeApply {
		rep.Writes = r.apply(ctx, plan)
	}
	r.phase(vocab.PhaseApply, t)

	r.recordRefusals(plan, rep.Writes)
	rep.Events = r.record(plan, rep.Writes, snap.CommitTime)
	r.recordLifecycle(plan)
	r.recordPackageCheck(check)
	rep.Result = cycleResult(plan, rep.Writes, r.cfg.Mode)
	return rep
}

func (r *Reconciler) setVerified(v bool) {
	r.store.Update(func(h *store.Status) { h.Verified = v })
}

// stalled maps every repo whose writes reached the limit to the desired
// hash they were of.
func (r *Reconciler) stalled() map[string]string {
	out := map[string]string{}
	r.store.Each(func(st store.RepoState) {
		if st.Writes >= r.cfg.MaxWrites {
			out[st.Repo] = st.WritesOf
		}
	})
	return out
}

// record runs every repo's transition, stores the states that changed,
// forgets the repos the plan no longer names, hands the events to the sinks
// and returns how many there were.
func (r *Reconciler) record(plan Plan, writes map[string]WriteResult, commit time.Time) int {
	f := facts{now: r.clock.Now(), commit: commit}
	var events []Event
	seen := make(map[string]bool, len(plan.Changes))
	for _, c := range plan.Changes {
		seen[c.Repo] = true
		var w *WriteResult
		if res, ok := writes[c.Repo]; ok {
			w = &res
		}
		r.store.Step(c.Repo, func(prev store.RepoState, _ bool) store.RepoState {
			st, evs := next(prev, c, w, f)
			events = append(events, evs...)
			return st
		})
	}
	for _, st := range r.store.Retain(func(name string) bool { return seen[name] }) {
		events = append(events, gone(st)...)
	}
	dispatch(r.sinks, events)
	return len(events)
}

// recordFiles publishes the file counts of a newly parsed revision, and logs
// every ignored entry that the previous revision did not have.
func (r *Reconciler) recordFiles(prev *Desired, d Desired) {
	valid, invalid, ignored := d.Counts()
	r.metrics.Files.WithLabelValues(string(vocab.FileValid)).Set(float64(valid))
	r.metrics.Files.WithLabelValues(string(vocab.FileInvalid)).Set(float64(invalid))
	r.metrics.Files.WithLabelValues(string(vocab.FileIgnored)).Set(float64(ignored))
	byReason := map[vocab.IgnoreReason]int{}
	known := map[store.IgnoredFile]bool{}
	if prev != nil {
		for _, f := range prev.Ignored {
			known[f] = true
		}
	}
	for _, f := range d.Ignored {
		byReason[f.Reason]++
		if !known[f] {
			r.log.Info("file ignored", zap.String("file", f.Path), zap.String("reason", string(f.Reason)), zap.String("why", f.Reason.Describe()))
		}
	}
	for _, why := range vocab.IgnoreReasons() {
		r.metrics.IgnoredFiles.WithLabelValues(string(why)).Set(float64(byReason[why]))
	}
	warnings := r.recordWarnings(prev, d)
	r.log.Info("revision parsed", zap.String("revision", d.Revision), zap.Int("files_parsed", d.Parsed), zap.Int("files_reused", d.Reused),
		zap.Int("valid", valid), zap.Int("invalid", invalid), zap.Int("ignored", ignored), zap.Int("warnings", warnings))
	r.store.Update(func(h *store.Status) {
		h.Files = store.FileCounts{Valid: valid, Invalid: invalid, Ignored: ignored, Warnings: warnings}
		h.Ignored = slices.Clone(d.Ignored)
	})
}

func (r *Reconciler) parse(snap gitsource.Snapshot) Desired {
	if r.desired != nil && r.desired.Revision == snap.Revision {
		return *r.desired
	}
	d := mapFiles(r.cfg.Dir, snap.FS, &r.cache)
	d.Revision, d.EverPaths = snap.Revision, snap.EverPaths
	return d
}

// readLive lists the organization's repos (resolving it on first use). A
// repo the client decodes anew (new, or changed since the last list) keeps
// desired's overlay in place of its own when they are the same value
// (a repo in sync), so that the overlay of each repo in sync is held once,
// not once for Git and once for the API.
func (r *Reconciler) readLive(ctx context.Context, desired *Desired) ([]chainguard.Repo, error) {
	if r.orgID == "" {
		org, err := r.reg.ResolveOrg(ctx, r.cfg.Org)
		if err != nil {
			return nil, fmt.Errorf("reading live state: %w", err)
		}
		r.orgID, r.orgName = org.ID, org.Name
		r.store.Update(func(h *store.Status) { h.OrgID = org.ID })
	}
	live, err := r.reg.ListRepos(ctx, r.orgID, chainguard.ShareOverlays(desired.overlay))
	if err != nil {
		return nil, fmt.Errorf("reading live state: %w", err)
	}
	return live, nil
}

// cycleResult is success when every repo was handled as the mode asks
// (written and converged in apply mode, reported in detect mode; orphans and
// suspended repos are only reported), partial when some repo could not be
// reconciled or a guard held a write back.
func cycleResult(plan Plan, writes map[string]WriteResult, mode vocab.Mode) vocab.CycleResult {
	if plan.SettingsErr != nil {
		return vocab.CyclePartial
	}
	for _, c := range plan.Changes {
		switch {
		case c.Action.Error() || c.Held.Guard():
			return vocab.CyclePartial
		case c.Drifted() && mode == vocab.ModeApply:
			w, ok := writes[c.Repo]
			if !ok || w.Err != nil || !w.Converged {
				return vocab.CyclePartial
			}
		}
	}
	return vocab.CycleSuccess
}

// fetchResult names a Git source's answer in the shared vocabulary.
func fetchResult(r gitsource.Result) vocab.FetchResult {
	if r == gitsource.Unchanged {
		return vocab.FetchUnchanged
	}
	return vocab.FetchUpdated
}
