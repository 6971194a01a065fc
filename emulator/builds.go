package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// apkoVersion is what build reports give as the apko version.
const apkoVersion = "emulator"

// builder simulates the build system. Its fields after the options are
// guarded by store.mu, which it shares with the store.
type builder struct {
	st       *store
	now      func() time.Time
	duration time.Duration
	timeout  time.Duration

	hang      map[string]bool        // packages whose builds hang
	hangRepos map[string]bool        // repo names whose builds hang
	timers    map[string]*time.Timer // pending builds by report id
	closed    bool
	seq       int
	wg        sync.WaitGroup // timer callbacks scheduled and not yet done
}

// outcome is how a build will end, decided when it starts.
type outcome struct {
	result registryv1.BuildReport_Result
	log    string
	digest string
}

func newBuilder(st *store, now func() time.Time, duration, timeout time.Duration, hang []string) *builder {
	return &builder{
		st:        st,
		now:       now,
		duration:  duration,
		timeout:   timeout,
		hang:      setOf(hang),
		hangRepos: map[string]bool{},
		timers:    map[string]*time.Timer{},
	}
}

// startLocked starts one build of repo per active tag ("latest" when there
// is none), each a pending report that completes on a timer.
func (b *builder) startLocked(repo *registryv1.Repo) {
	if b.closed {
		return
	}
	tags := repo.GetActiveTags()
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	for _, tag := range tags {
		id := string(uidp.NewUIDP(uidp.UIDP(repo.GetId())))
		b.seq++
		out, after := b.planLocked(repo, tag, id)
		b.st.addReportLocked(repo.GetId(), id, &registryv1.BuildReport{
			Id:          id,
			MediaType:   "application/vnd.oci.image.index.v1+json",
			Config:      buildConfig(repo, tag),
			Result:      registryv1.BuildReport_Unknown,
			ApkoVersion: apkoVersion,
			StartedAt:   timestamppb.New(b.now()),
		})
		b.wg.Add(1)
		b.timers[id] = time.AfterFunc(after, func() {
			defer b.wg.Done()
			b.complete(id, out)
		})
	}
}

// planLocked decides how a build ends and after how long: a timeout when
// the repo or a package hangs (whether or not it is in the catalog), failure
// when a package is missing from the org's catalog, success otherwise.
func (b *builder) planLocked(repo *registryv1.Repo, tag, id string) (outcome, time.Duration) {
	pkgs := repo.GetCustomOverlay().GetContents().GetPackages()
	var log strings.Builder
	fmt.Fprintf(&log, "emulator: building %s:%s (build %s)\n", repo.GetName(), tag, id)
	if src := repo.GetSyncConfig().GetSource(); src != "" {
		fmt.Fprintf(&log, "emulator: source image %s\n", src)
	}
	fmt.Fprintf(&log, "emulator: adding packages: %s\n", strings.Join(pkgs, ", "))

	hangs := b.hangRepos[repo.GetName()]
	for _, p := range pkgs {
		hangs = hangs || b.hang[packageName(p)]
	}
	if hangs {
		fmt.Fprintf(&log, "ERROR: build timed out after %s\n", b.timeout)
		return outcome{result: registryv1.BuildReport_Failure, log: log.String()}, b.timeout
	}

	var missing []string
	if o := b.st.orgOfLocked(repo.GetId()); o != nil && o.catalog != nil {
		for _, p := range pkgs {
			if !o.catalog[packageName(p)] {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) > 0 {
		for _, p := range missing {
			fmt.Fprintf(&log, "ERROR: package %q not found in catalog\n", packageName(p))
		}
		return outcome{result: registryv1.BuildReport_Failure, log: log.String()}, b.duration
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%d\x00", repo.GetId(), tag, b.seq)
	if raw, err := (proto.MarshalOptions{Deterministic: true}).Marshal(repo.GetCustomOverlay()); err == nil {
		sum.Write(raw)
	}
	digest := "sha256:" + hex.EncodeToString(sum.Sum(nil))
	fmt.Fprintf(&log, "emulator: built %s:%s@%s\n", repo.GetName(), tag, digest)
	return outcome{result: registryv1.BuildReport_Success, log: log.String(), digest: digest}, b.duration
}

// packageName strips a version constraint: "curl=8.1" is "curl".
func packageName(p string) string {
	if i := strings.IndexAny(p, "=<>~"); i >= 0 {
		return p[:i]
	}
	return p
}

// buildConfig is the report's config: what was built, as JSON.
func buildConfig(repo *registryv1.Repo, tag string) string {
	ov, err := protojson.Marshal(repo.GetCustomOverlay())
	if err != nil || len(ov) == 0 {
		ov = []byte("{}")
	}
	cfg, err := json.Marshal(struct {
		Repo    string          `json:"repo"`
		Tag     string          `json:"tag"`
		Source  string          `json:"source,omitempty"`
		Overlay json.RawMessage `json:"overlay"`
	}{repo.GetName(), tag, repo.GetSyncConfig().GetSource(), ov})
	if err != nil {
		return "{}"
	}
	return string(cfg)
}

// complete ends a pending build with its outcome.
func (b *builder) complete(id string, out outcome) {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	if b.closed {
		return
	}
	delete(b.timers, id)
	r, ok := b.st.reports[id]
	if !ok {
		return
	}
	r.Result = out.result
	r.Log = out.log
	r.Digest = out.digest
	r.CompletedAt = timestamppb.New(b.now())
}

// stopLocked stops a pending build's timer, if it has not fired yet.
func (b *builder) stopLocked(id string) {
	if t, ok := b.timers[id]; ok {
		if t.Stop() {
			b.wg.Done()
		}
		delete(b.timers, id)
	}
}

// forgetRepoLocked stops the builds of a deleted repo and drops its reports.
func (b *builder) forgetRepoLocked(repoID string) {
	for id := range b.st.repoReports[repoID] {
		b.stopLocked(id)
		b.st.dropReportLocked(id)
	}
}

// sweepLocked drops the reports that started before cutoff, oldest first,
// stopping at the first one that did not: reports are swept in the order
// they started, so the sweep costs only what it drops.
func (b *builder) sweepLocked(cutoff time.Time) {
	order := b.st.reportOrder
	for len(order) > 0 {
		r, ok := b.st.reports[order[0]]
		if ok && !r.GetStartedAt().AsTime().Before(cutoff) {
			break
		}
		if ok {
			b.stopLocked(order[0])
			b.st.dropReportLocked(order[0])
		}
		order = order[1:]
	}
	b.st.reportOrder = order
}

// close stops every pending build and waits for callbacks already running.
func (b *builder) close() {
	b.st.mu.Lock()
	b.closed = true
	for id := range b.timers {
		b.stopLocked(id)
	}
	b.st.mu.Unlock()
	b.wg.Wait()
}

// selectLocked returns the reports matching f, newest first, after dropping
// those older than the retention. started_since defaults to a day ago and is
// inclusive; started_before is exclusive.
func (b *builder) selectLocked(f *registryv1.BuildReportFilter, retention time.Duration) []*registryv1.BuildReport {
	now := b.now()
	b.sweepLocked(now.Add(-retention))
	since := now.Add(-24 * time.Hour)
	if f.GetStartedSince() != nil {
		since = f.GetStartedSince().AsTime()
	}
	var out []*registryv1.BuildReport
	for id, r := range b.st.reportsLocked(f.GetUidp().GetDescendantsOf()) {
		started := r.GetStartedAt().AsTime()
		if started.Before(since) || (f.GetStartedBefore() != nil && !started.Before(f.GetStartedBefore().AsTime())) {
			continue
		}
		if !matchUIDP(f.GetUidp(), id) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].GetStartedAt().AsTime(), out[j].GetStartedAt().AsTime()
		if !a.Equal(b) {
			return a.After(b)
		}
		return out[i].GetId() > out[j].GetId()
	})
	return out
}

// list implements ListBuildReports: copies, without logs when asked, at most
// page_size of them.
func (b *builder) list(f *registryv1.BuildReportFilter, retention time.Duration) []*registryv1.BuildReport {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	sel := b.selectLocked(f, retention)
	if n := int(f.GetPageSize()); n > 0 && len(sel) > n {
		sel = sel[:n]
	}
	out := make([]*registryv1.BuildReport, len(sel))
	for i, r := range sel {
		c := proto.Clone(r).(*registryv1.BuildReport)
		if f.GetExcludeLogs() {
			c.Log = ""
		}
		out[i] = c
	}
	return out
}

// status implements GetBuildStatus.
func (b *builder) status(f *registryv1.BuildReportFilter, retention time.Duration) *registryv1.BuildStatus {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	perRepo := map[string]int32{}
	for _, r := range b.selectLocked(f, retention) {
		if r.GetResult() == registryv1.BuildReport_Failure {
			perRepo[uidp.Parent(r.GetId())]++
		}
	}
	out := &registryv1.BuildStatus{}
	for repo, n := range perRepo {
		out.Failures = append(out.Failures, &registryv1.BuildStatus_Failures{RepoId: repo, Total: n})
	}
	sort.Slice(out.Failures, func(i, j int) bool { return out.Failures[i].GetRepoId() < out.Failures[j].GetRepoId() })
	return out
}

// BuildReports returns copies of every report of a repo, logs included,
// oldest first, regardless of age.
func (s *Server) BuildReports(repoID string) []*registryv1.BuildReport {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*registryv1.BuildReport
	for id := range st.repoReports[repoID] {
		out = append(out, proto.Clone(st.reports[id]).(*registryv1.BuildReport))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].GetStartedAt().AsTime(), out[j].GetStartedAt().AsTime()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].GetId() < out[j].GetId()
	})
	return out
}

// TriggerRebuild starts builds of a repo's current overlay, one per active
// tag, as Chainguard does on its own when packages update.
func (s *Server) TriggerRebuild(repoID string) error {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.builds.closed {
		return fmt.Errorf("rebuilding %s: emulator closed", repoID)
	}
	rec, ok := st.repos[repoID]
	if !ok {
		return fmt.Errorf("rebuilding %s: repo not found", repoID)
	}
	s.builds.startLocked(rec.repo)
	return nil
}

// SetHangPackages adds packages whose builds hang until BuildTimeout.
func (s *Server) SetHangPackages(pkgs ...string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for _, p := range pkgs {
		s.builds.hang[p] = true
	}
}

// SetHangRepos adds repo names (in any organization) whose builds hang
// until BuildTimeout.
func (s *Server) SetHangRepos(names ...string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for _, n := range names {
		s.builds.hangRepos[n] = true
	}
}
