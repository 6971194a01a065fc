package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"chainguard.dev/apko/pkg/apk/apk"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
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
	locked string // the locked configuration of a success
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

// startLocked starts one build of a repo per active tag ("latest" when
// there is none), each a pending report that completes on a timer.
func (b *builder) startLocked(rec *repoRecord) {
	if b.closed {
		return
	}
	repo := rec.repo
	tags := repo.GetActiveTags()
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	for _, tag := range tags {
		id := string(uidp.NewUIDP(uidp.UIDP(repo.GetId())))
		b.seq++
		out, after := b.planLocked(rec, tag, id)
		b.st.addReportLocked(repo.GetId(), id, &registryv1.BuildReport{
			Id:          id,
			MediaType:   "application/vnd.oci.image.index.v1+json",
			Config:      buildConfig(rec),
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
// the repo or a package hangs (whether or not it resolves), failure when
// apko's resolver cannot install the world from the org's catalog (with
// apk's explanation as the log's last lines), success otherwise, with the
// locked configuration.
func (b *builder) planLocked(rec *repoRecord, tag, id string) (outcome, time.Duration) {
	repo := rec.repo
	w := world(rec)
	var log strings.Builder
	line := func(level, format string, args ...any) {
		fmt.Fprintf(&log, "%s[%s]%s\n", b.now().UTC().Format(time.RFC3339), level, fmt.Sprintf(format, args...))
	}
	line("INFO", "Building %s:%s (build %s) for %s", repo.GetName(), tag, id, strings.Join(archsOf(rec), ", "))
	if src := repo.GetSyncConfig().GetSource(); src != "" {
		line("INFO", "Source image %s", src)
	}
	line("INFO", "Base packages: %s", strings.Join(rec.basePackages, ", "))
	line("INFO", "Adding packages: %s", strings.Join(repo.GetCustomOverlay().GetContents().GetPackages(), ", "))

	hangs := b.hangRepos[repo.GetName()]
	for _, p := range w {
		hangs = hangs || b.hang[apk.ResolvePackageNameVersionPin(p).Name]
	}
	if hangs {
		fmt.Fprintf(&log, "ERROR: build timed out after %s\n", b.timeout)
		return outcome{result: registryv1.BuildReport_Failure, log: log.String()}, b.timeout
	}

	var c *catalog
	if o := b.st.orgOfLocked(repo.GetId()); o != nil {
		c = o.catalog
	}
	res := resolveBuild(c, rec)
	if res.failed != "" {
		line("ERROR", "Failed to build layer image for %q: %s", res.failed, strings.ReplaceAll(res.solver, "\n", " "))
		if len(res.problems) > 0 {
			log.WriteString("ERROR: unable to select packages:\n" + strings.Join(res.problems, "\n") + "\n")
		} else {
			log.WriteString("ERROR: " + res.solver + "\n")
		}
		return outcome{result: registryv1.BuildReport_Failure, log: log.String()}, b.duration
	}
	locked := lockedConfig(rec, res.locked)
	line("INFO", "Building image with locked configuration: %s", locked)
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%d\x00%s\x00", repo.GetId(), tag, b.seq, locked)
	if raw, err := (proto.MarshalOptions{Deterministic: true}).Marshal(repo.GetCustomOverlay()); err == nil {
		sum.Write(raw)
	}
	digest := "sha256:" + hex.EncodeToString(sum.Sum(nil))
	line("INFO", "Built %s:%s@%s", repo.GetName(), tag, digest)
	return outcome{result: registryv1.BuildReport_Success, log: log.String(), digest: digest, locked: locked}, b.duration
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
	r.LockedConfig = out.locked
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
	s.builds.startLocked(rec)
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
