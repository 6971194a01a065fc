package packagecheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"chainguard.dev/apko/pkg/build/types"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/clock"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Defaults for Config.
const (
	DefaultInterval      = 10 * time.Minute
	DefaultConcurrency   = 4
	DefaultBuildLookback = 24 * time.Hour // build reports are kept 24 hours
)

// DefaultArchs are the architectures a repo is checked for when its builds
// do not say: Chainguard builds both.
var DefaultArchs = []string{"x86_64", "aarch64"}

// Capability is what listing an organization's packages needs.
const Capability = "apk.list"

// maxBases bounds the distinct base images (one per set of tags built
// differently) a repo is checked against.
const maxBases = 4

// sameBuild is how far apart the builds of one write (one per active tag)
// may start: builds started earlier than this before a repo's newest
// successful build are of an earlier overlay or base. It is short, since a
// write starts its builds together, and two writes can come seconds apart
// (an older base wrongly kept could refuse a file that builds; a tag's
// base left out only checks less).
const sameBuild = 2 * time.Second

// Status says whether a check ran. The words are the shared vocabulary's
// (vocab.PackageCheckStatus), since metrics and pages show them.
type Status = vocab.PackageCheckStatus

// The statuses of a check.
const (
	// StatusChecked: the repos were checked (Result.Problems holds the
	// refusals). A check with no repos is checked too, and costs nothing.
	StatusChecked = vocab.PackageCheckChecked
	// StatusSkipped: the API does not let this identity list packages
	// (PermissionDenied or Unimplemented); Result.Capability names what is
	// missing. Nothing is refused; reconciling goes on without the check.
	StatusSkipped = vocab.PackageCheckSkipped
	// StatusUnavailable: the index could not be read and there is none
	// from before (Result.Reason says why). Nothing is refused.
	StatusUnavailable = vocab.PackageCheckUnavailable
)

// Statuses is every Status, for metrics and pages.
var Statuses = vocab.PackageCheckStatuses()

// API is what the check needs of the Chainguard API; *chainguard.Client
// implements it.
type API interface {
	ListPackages(ctx context.Context, orgID, arch string) (chainguard.PackageList, error)
	SuccessfulBuilds(ctx context.Context, repoID string, since time.Time) ([]chainguard.BuildConfig, error)
}

// Observer is told about index reads and checks; the metrics package
// implements it.
type Observer interface {
	// IndexRead is told about each read of an organization's index: the
	// ListAPKs calls it made, the packages per architecture, and its error.
	IndexRead(calls int, packages map[string]int, err error)
	// Checked is told about each check: its status, the age of the index
	// it used (zero when none), the repos checked and refused.
	Checked(status Status, indexAge time.Duration, checked, refused int)
}

// Config configures a Checker. The zero value works.
type Config struct {
	// Interval is how long an index is used before it is read again
	// (--package-index-interval); DefaultInterval when zero. A plan that
	// needs a package the index lacks reads it again at once, once per
	// package and index.
	Interval time.Duration
	// Archs are the architectures checked when a repo's builds do not say;
	// DefaultArchs when empty.
	Archs []string
	// Concurrency bounds the build-report reads in flight; resolves use
	// every CPU. DefaultConcurrency when zero.
	Concurrency int
	// BuildLookback is how far back a successful build is looked for;
	// DefaultBuildLookback when zero.
	BuildLookback time.Duration
	// Dir is where the index files go (a fresh folder inside it, removed by
	// Close); the system's temporary folder when empty.
	Dir      string
	Clock    clock.Clock
	Logger   *zap.Logger
	Observer Observer
}

// Org names the organization whose packages are checked; Name is used in
// messages ("is not available to acme.com").
type Org struct {
	ID   string
	Name string
}

// Repo is one repo about to be written.
type Repo struct {
	// Name is the repo's name, the key of Result.Problems.
	Name string
	// ID is the repo's id, for its build reports; empty for a repo that
	// does not exist yet (it is to be created), whose base is not known.
	ID string
	// File is the overlay file, for messages.
	File string
	// Packages are the file's contents.packages, in the file's order.
	Packages []string
	// Positions are where the file's fields are, by field path
	// ("contents.packages[1]"), as overlay.ParseFile gives them.
	Positions map[string]overlay.Position
	// LivePackages are the packages the live overlay adds. The last build
	// installed them, so they are taken out of the base it reports.
	LivePackages []string
	// Archs, when set, are the architectures the repo builds; otherwise
	// they come from its last successful build, or Config.Archs.
	Archs []string
}

// Result is what one check found.
type Result struct {
	Status Status
	// Reason says why a check was skipped or unavailable, or that a stale
	// index was used.
	Reason string
	// Capability is the capability the identity lacks when skipped.
	Capability string
	// Problems are the refused repos' problems, by repo name: errors at
	// the file's positions naming package and architecture. A repo with
	// problems must not be written.
	Problems map[string]overlay.Problems
	// Notes are, by repo name, what the check could not decide (no base
	// image known, a base that no longer resolves). They refuse nothing.
	Notes map[string][]string
	// IndexReadAt is when the index used was read.
	IndexReadAt time.Time
	// IndexCalls and BuildCalls are the ListAPKs and ListBuildReports
	// calls this check made; Resolves the resolver runs.
	IndexCalls, BuildCalls, Resolves int
}

// Refused lists the refused repos, sorted.
func (r Result) Refused() []string {
	out := slices.AppendSeq(make([]string, 0, len(r.Problems)), maps.Keys(r.Problems))
	slices.Sort(out)
	return out
}

// Checker checks repos against their organization's package index, which
// it reads through the API and keeps. It is safe for concurrent use; checks
// run one at a time.
type Checker struct {
	api   API
	cfg   Config
	dir   string
	clock clock.Clock
	log   *zap.Logger

	mu   sync.Mutex
	orgs map[string]*orgState
}

// orgState is what the checker keeps of one organization.
type orgState struct {
	ix      *index
	gen     int64
	missing map[string]bool // names a read of ix was already made for
	// denied is why the API refused to list packages, and when; nothing
	// is asked again before Interval has passed.
	denied   string
	deniedAt time.Time
}

// New returns a Checker. It makes a folder for the index files; Close
// removes it.
func New(api API, cfg Config) (*Checker, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if len(cfg.Archs) == 0 {
		cfg.Archs = DefaultArchs
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.BuildLookback <= 0 {
		cfg.BuildLookback = DefaultBuildLookback
	}
	c := &Checker{api: api, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, orgs: map[string]*orgState{}}
	if c.clock == nil {
		c.clock = clock.Real{}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	dir, err := os.MkdirTemp(cfg.Dir, "ca-reconciler-packages-")
	if err != nil {
		return nil, fmt.Errorf("making the package index folder: %w", err)
	}
	c.dir = dir
	return c, nil
}

// Close removes the index files.
func (c *Checker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return os.RemoveAll(c.dir)
}

// Check says which of repos would fail to build, and why, before they are
// written. It reads the organization's index when it has none, when the
// one it has is older than Config.Interval, or when a repo names a package
// the index lacks (once per package and index); with no repos it does
// nothing at all. It reads each repo's last successful builds (one
// ListBuildReports per repo) for the base image's packages and
// architectures, then resolves base plus file with apko's resolver for
// every architecture.
//
// It never fails: when the identity may not list packages the result is
// StatusSkipped, and when the index cannot be read StatusUnavailable;
// neither refuses anything.
func (c *Checker) Check(ctx context.Context, org Org, repos []Repo) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	res := Result{Status: StatusChecked, Problems: map[string]overlay.Problems{}, Notes: map[string][]string{}}
	st := c.orgs[org.ID]
	if st == nil {
		st = &orgState{}
		c.orgs[org.ID] = st
	}
	defer func() {
		var age time.Duration
		if !res.IndexReadAt.IsZero() {
			age = now.Sub(res.IndexReadAt)
		}
		if c.cfg.Observer != nil {
			checked := len(repos)
			if res.Status != StatusChecked {
				checked = 0
			}
			c.cfg.Observer.Checked(res.Status, age, checked, len(res.Problems))
		}
	}()
	if len(repos) == 0 {
		if st.ix != nil {
			res.IndexReadAt = st.ix.readAt
		}
		return res
	}
	if st.denied != "" && now.Sub(st.deniedAt) < c.cfg.Interval {
		res.Status, res.Reason, res.Capability = StatusSkipped, st.denied, Capability
		return res
	}

	if why := c.needsRead(st, now, repos); why != "" {
		c.log.Debug("reading the package index", zap.String("org", org.Name), zap.String("why", why))
		calls, err := c.read(ctx, org, st, now, repos)
		res.IndexCalls = calls
		switch {
		case err == nil:
		case denied(err):
			if st.denied == "" {
				c.log.Warn("the package check is skipped: the identity cannot list the organization's packages",
					zap.String("capability", Capability), zap.String("org", org.Name), zap.Error(err))
			}
			st.denied, st.deniedAt = fmt.Sprintf("listing packages needs the %s capability: %v", Capability, err), now
			res.Status, res.Reason, res.Capability = StatusSkipped, st.denied, Capability
			return res
		case st.ix == nil:
			res.Status, res.Reason = StatusUnavailable, fmt.Sprintf("reading the package index: %v", err)
			c.log.Warn("the package check is unavailable", zap.String("org", org.Name), zap.Error(err))
			return res
		default:
			res.Reason = fmt.Sprintf("using the package index read at %s: reading it again failed: %v", st.ix.readAt.UTC().Format(time.RFC3339), err)
			c.log.Warn("the package check uses its last index", zap.String("org", org.Name), zap.Time("read_at", st.ix.readAt), zap.Error(err))
		}
		if err == nil && st.denied != "" {
			c.log.Info("the package check runs again: the identity can list packages", zap.String("org", org.Name))
			st.denied = ""
		}
	}
	res.IndexReadAt = st.ix.readAt

	targets, notes, calls := c.targets(ctx, repos, now)
	res.BuildCalls = calls
	for name, n := range notes {
		res.Notes[name] = append(res.Notes[name], n...)
	}
	s := newSession(st.ix, org.Name)
	results := make([]repoResult, len(targets))
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = c.checkRepo(ctx, s, targets[i])
			}
		}()
	}
	for i := range targets {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		if len(r.problems) > 0 {
			res.Problems[r.name] = r.problems
		}
		if len(r.notes) > 0 {
			res.Notes[r.name] = append(res.Notes[r.name], r.notes...)
		}
	}
	res.Resolves = s.resolves
	return res
}

// repoTargets is one repo's targets: one per distinct base image.
type repoTargets struct {
	name    string
	targets []target
}

// repoResult is what the check found for one repo.
type repoResult struct {
	name     string
	problems overlay.Problems
	notes    []string
}

func (c *Checker) checkRepo(ctx context.Context, s *session, rt repoTargets) repoResult {
	var problems overlay.Problems
	var notes []string
	seen := map[string]bool{}
	for _, t := range rt.targets {
		var unknown []string
		t.archs = slices.DeleteFunc(slices.Clone(t.archs), func(a string) bool {
			if s.ix.byArch[a] == nil {
				unknown = append(unknown, a)
				return true
			}
			return false
		})
		if len(unknown) > 0 {
			n := fmt.Sprintf("the repo builds for %s, which the package check does not read; not checked there", joinArchs(unknown))
			if !slices.Contains(notes, n) {
				notes = append(notes, n)
			}
		}
		if len(t.archs) == 0 {
			continue
		}
		ps, ns := s.check(ctx, t)
		for _, p := range ps {
			if !seen[p.String()] {
				seen[p.String()] = true
				problems = append(problems, p)
			}
		}
		for _, n := range ns {
			if !slices.Contains(notes, n) {
				notes = append(notes, n)
			}
		}
	}
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].Line != problems[j].Line {
			return problems[i].Line < problems[j].Line
		}
		return problems[i].Column < problems[j].Column
	})
	return repoResult{rt.name, problems, notes}
}

// needsRead says why the index must be read now, or "" when the one kept
// will do.
func (c *Checker) needsRead(st *orgState, now time.Time, repos []Repo) string {
	switch {
	case st.ix == nil:
		return "no index yet"
	case now.Sub(st.ix.readAt) >= c.cfg.Interval:
		return "the index is older than the interval"
	}
	for _, r := range repos {
		for _, p := range r.Packages {
			if name := constraintName(p); !st.ix.has(name) && !st.missing[name] {
				return "a file names a package the index lacks"
			}
		}
	}
	return ""
}

// read lists every architecture's packages and makes them the index,
// unless they are the packages it already has. It returns the ListAPKs
// calls made.
func (c *Checker) read(ctx context.Context, org Org, st *orgState, now time.Time, repos []Repo) (int, error) {
	archs := slices.Clone(c.cfg.Archs)
	for _, r := range repos {
		for _, a := range r.Archs {
			if !slices.Contains(archs, a) {
				archs = append(archs, a)
			}
		}
	}
	lists := map[string]chainguard.PackageList{}
	calls := 0
	counts := map[string]int{}
	var err error
	for _, a := range archs {
		var l chainguard.PackageList
		l, err = c.api.ListPackages(ctx, org.ID, a)
		calls += l.Calls
		if err != nil {
			break
		}
		lists[a] = l
		counts[a] = len(l.Packages)
	}
	if c.cfg.Observer != nil {
		c.cfg.Observer.IndexRead(calls, counts, err)
	}
	if err != nil {
		return calls, err
	}
	if st.ix != nil && listingHash(lists) == st.ix.hash {
		st.ix.readAt = now
	} else {
		st.gen++
		sum := sha256.Sum256([]byte(org.ID))
		ix, err := indexFiles(ctx, filepath.Join(c.dir, hex.EncodeToString(sum[:8])), st.gen, lists, now)
		if err != nil {
			return calls, err
		}
		st.ix, st.missing = ix, map[string]bool{}
	}
	for _, r := range repos {
		for _, p := range r.Packages {
			if name := constraintName(p); !st.ix.has(name) {
				st.missing[name] = true
			}
		}
	}
	c.log.Debug("package index read", zap.String("org", org.Name), zap.Int("calls", calls), zap.Any("packages", counts))
	return calls, nil
}

// denied reports whether err means this identity may not list packages.
func denied(err error) bool {
	switch chainguard.Code(err) {
	case codes.PermissionDenied, codes.Unimplemented:
		return true
	}
	return false
}

// targets reads each repo's successful builds (cfg.Concurrency at a time)
// and makes its targets: one per distinct base image, or one without a base
// when none is known. It returns notes by repo and the calls made.
func (c *Checker) targets(ctx context.Context, repos []Repo, now time.Time) ([]repoTargets, map[string][]string, int) {
	out := make([]repoTargets, len(repos))
	notes := make([][]string, len(repos))
	calls := make([]int, len(repos))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, r := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], notes[i], calls[i] = c.repoTargets(ctx, r, now)
		}()
	}
	wg.Wait()
	byName := map[string][]string{}
	total := 0
	for i, r := range repos {
		if len(notes[i]) > 0 {
			byName[r.Name] = append(byName[r.Name], notes[i]...)
		}
		total += calls[i]
	}
	return out, byName, total
}

func (c *Checker) repoTargets(ctx context.Context, r Repo, now time.Time) (repoTargets, []string, int) {
	rt := repoTargets{name: r.Name}
	alone := target{file: r.File, packages: r.Packages, positions: r.Positions, archs: c.archsFor(r, nil)}
	if len(r.Packages) == 0 {
		return rt, nil, 0
	}
	if r.ID == "" {
		rt.targets = []target{alone}
		return rt, []string{"the base image is not known before the repo exists; the file's packages were checked alone"}, 0
	}
	builds, err := c.api.SuccessfulBuilds(ctx, r.ID, now.Add(-c.cfg.BuildLookback))
	if err != nil {
		rt.targets = []target{alone}
		return rt, []string{fmt.Sprintf("the base image is not known (%v); the file's packages were checked alone", err)}, 1
	}
	var notes []string
	seen := map[string]bool{}
	for _, b := range builds {
		// builds are newest first. Only the newest successful build and
		// those started with it (within sameBuild: one per active tag, by
		// the same write or rebuild) tell the base: an older one was built from an older
		// overlay or source image, and its packages (a python-3.12 the
		// overlay since dropped, a base since updated) are not the image's
		// now, so checking against them refuses files that build, and
		// costs a resolve per older base.
		if b.StartedAt.Before(builds[0].StartedAt.Add(-sameBuild)) {
			break
		}
		config := b.Config
		if config == "" {
			config = b.LockedConfig
		}
		base, archs, err := baseOf(config, r.LivePackages)
		if err != nil {
			notes = append(notes, fmt.Sprintf("build %s: %v", b.BuildID, err))
			continue
		}
		key := strings.Join(archs, ",") + "\x00" + strings.Join(base, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		rt.targets = append(rt.targets, target{file: r.File, packages: r.Packages, positions: r.Positions, base: base, archs: c.archsFor(r, archs)})
		if len(rt.targets) == maxBases {
			break
		}
	}
	if len(rt.targets) == 0 {
		rt.targets = []target{alone}
		notes = append(notes, fmt.Sprintf("no successful build in the last %s tells the base image; the file's packages were checked alone", c.cfg.BuildLookback))
	}
	return rt, notes, 1
}

// archsFor is what r builds: its own Archs, else those of its build, else
// the configured ones.
func (c *Checker) archsFor(r Repo, fromBuild []string) []string {
	switch {
	case len(r.Archs) > 0:
		return r.Archs
	case len(fromBuild) > 0:
		out := slices.Clone(fromBuild)
		rank := func(a string) int {
			if i := slices.Index(c.cfg.Archs, a); i >= 0 {
				return i
			}
			return len(c.cfg.Archs)
		}
		slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
		return out
	}
	return c.cfg.Archs
}

// baseOf reads a build's apko configuration (JSON, as
// types.ImageConfiguration marshals it) for the base image's packages and
// the architectures built. Packages are taken by name, without a locked
// version: the next build resolves current versions, as a rebuild does. The
// live overlay's packages are left out, since the file may drop them.
//
// The report's config (the packages as the build requested them) is used
// when there is one, its locked_config (every package installed, pinned)
// otherwise: both resolve to the same image, but apko's solver costs about
// the square of the packages named, and a locked closure names three to
// four times as many (measured with 30 base packages installing 105: 1.8 ms
// against 13 ms per repo).
func baseOf(lockedConfig string, live []string) (base, archs []string, err error) {
	var ic types.ImageConfiguration
	if err := json.Unmarshal([]byte(lockedConfig), &ic); err != nil {
		return nil, nil, fmt.Errorf("reading its locked_config: %w", err)
	}
	drop := map[string]bool{}
	for _, p := range live {
		drop[constraintName(p)] = true
	}
	for _, p := range ic.Contents.Packages {
		name := constraintName(p)
		if name != "" && !drop[name] && !slices.Contains(base, name) {
			base = append(base, name)
		}
	}
	sort.Strings(base)
	for _, a := range ic.Archs {
		if apkArch := types.ParseArchitecture(a.String()).ToAPK(); !slices.Contains(archs, apkArch) {
			archs = append(archs, apkArch)
		}
	}
	return base, archs, nil
}
