package buildwatch_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const listBuildReports = registryv1.Registry_ListBuildReports_FullMethodName

// newFakeClock is a settable clock shared by the emulator (build
// timestamps) and the watcher. Nothing waits on its After: tests call Poll
// themselves.
func newFakeClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// env is an emulator over loopback gRPC, the SDK-backed client, one org,
// and a watcher.
type env struct {
	t      *testing.T
	emu    *emulator.Server
	client *chainguard.Client
	orgID  string
	now    func() time.Time
	m      *metrics.Metrics
	logs   *observer.ObservedLogs
	w      *buildwatch.Watcher

	store *store.Store // what the reconciler knows

	mu      sync.Mutex
	ids     map[string]string // name -> id
	results []buildwatch.Result
	// onResult, if set, is called from OnResult (outside e.mu).
	onResult func(buildwatch.Result)
}

// newEnv starts the emulator with opts and a watcher with cfg; a nil clock
// means the wall clock.
func newEnv(t *testing.T, opts emulator.Options, cfg buildwatch.Config, clock *clockwork.FakeClock) *env {
	t.Helper()
	e := &env{t: t, store: store.New(), ids: map[string]string{}, now: time.Now}
	if clock != nil {
		opts.Now = clock.Now
		cfg.Clock = clock
		e.now = clock.Now
	}
	var url string
	e.emu, url = emutest.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	e.client, err = chainguard.Dial(ctx, chainguard.Config{URL: url, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.client.Close() })
	e.orgID = e.emu.CreateOrg("acme.example")
	if err := e.emu.SetCatalog(e.orgID, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}

	e.m = metrics.New(prometheus.NewRegistry(), "test")
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	cfg.API = e.client
	cfg.Metrics = e.m
	cfg.Logger = zap.New(core)
	cfg.Repos = e.store
	cfg.OnResult = func(r buildwatch.Result) {
		e.mu.Lock()
		e.results = append(e.results, r)
		hook := e.onResult
		e.mu.Unlock()
		if hook != nil {
			hook(r)
		}
	}
	e.w, err = buildwatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// repo creates a Custom Assembly repo, known to the "reconciler" unless
// managed is false, with the given active tags (one build per tag).
func (e *env) repo(name string, managed bool, tags ...string) string {
	e.t.Helper()
	r := e.emu.CreateRepo(e.orgID, &registryv1.Repo{
		Name:       name,
		ActiveTags: tags,
		SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/" + name, ApkoOverlay: "contents: {}"},
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[name] = r.GetId()
	if managed {
		e.store.PutRepo(store.RepoState{Repo: name, RepoID: r.GetId(), Status: vocab.StatusSynced})
	}
	return r.GetId()
}

// write writes a repo's overlay through the API, as the reconciler does,
// and tells the watcher.
func (e *env) write(name string, pkgs ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := e.ids[name]
	if _, err := e.client.WriteOverlay(ctx, id, overlay.Overlay{Packages: pkgs}); err != nil {
		e.t.Fatalf("writing %s: %v", name, err)
	}
	e.w.Watch(name, id, e.now())
}

// builds counts the finished builds of repo with result that the watcher
// reported and counted: per repo from its reports (builds_total has no repo
// label), checked against the counter's total for the result.
func (e *env) builds(repo string, result vocab.BuildResult) float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0.0
	for _, r := range e.results {
		if r.Repo == repo && r.Result == result {
			n++
		}
	}
	return n
}

// counted is ca_reconciler_builds_total{result}.
func (e *env) counted(result vocab.BuildResult) float64 {
	return testutil.ToFloat64(e.m.Builds.WithLabelValues(string(result)))
}

func (e *env) durations() uint64 {
	var d dto.Metric
	if err := e.m.BuildDuration.(prometheus.Metric).Write(&d); err != nil {
		e.t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

// pollUntil polls until cond holds, a bounded number of times.
func (e *env) pollUntil(what string, cond func() bool) {
	e.t.Helper()
	for range 1000 {
		e.w.Poll(context.Background())
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("after 1000 polls: %s never happened; logs: %v", what, e.logs.All())
}

// calls counts ListBuildReports calls made by f.
func (e *env) calls(f func()) int {
	before := e.emu.Calls(listBuildReports)
	f()
	return e.emu.Calls(listBuildReports) - before
}

func (e *env) result(repo string) buildwatch.Result {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []buildwatch.Result
	for _, r := range e.results {
		if r.Repo == repo {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		e.t.Fatalf("%d results for %s, want 1: %+v", len(out), repo, out)
	}
	return out[0]
}

// TestResults follows the three ways a build ends, against the emulator: a
// success (two tags, two builds), a failure (a package missing from the
// org's catalog) and a build that outlives a short limit.
func TestResults(t *testing.T) {
	e := newEnv(t,
		emulator.Options{BuildDuration: 20 * time.Millisecond, HangRepos: []string{"slow"}},
		buildwatch.Config{Timeout: time.Second}, nil)
	e.repo("ok", true, "latest", "1.0")
	e.repo("broken", true)
	e.repo("slow", true)
	e.write("ok", "curl")
	e.write("broken", "curl", "nosuch")
	e.write("slow", "jq")

	e.pollUntil("every build finished", func() bool {
		return e.builds("ok", "success") == 2 && e.builds("broken", "failure") == 1 && e.builds("slow", "timeout") == 1
	})
	for result, want := range map[vocab.BuildResult]float64{vocab.BuildSuccess: 2, vocab.BuildFailure: 1, vocab.BuildTimeout: 1} {
		if got := e.counted(result); got != want {
			t.Errorf("builds_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	for _, c := range []struct {
		repo   string
		result vocab.BuildResult
		want   float64
	}{
		{"ok", "failure", 0}, {"ok", "timeout", 0},
		{"broken", "success", 0}, {"broken", "timeout", 0},
		{"slow", "success", 0}, {"slow", "failure", 0},
	} {
		if got := e.builds(c.repo, c.result); got != c.want {
			t.Errorf("builds_total{repo=%q,result=%q} = %v, want %v", c.repo, c.result, got, c.want)
		}
	}
	if got := e.durations(); got != 3 {
		t.Errorf("build_duration_seconds count = %d, want 3 (the timed-out build never completed)", got)
	}
	if err := testutil.CollectAndCompare(e.m.PerRepo, strings.NewReader(`
# HELP ca_reconciler_repo_build_failed 1 when the repo's last finished build failed or timed out, 0 when it succeeded; absent before its first build.
# TYPE ca_reconciler_repo_build_failed gauge
ca_reconciler_repo_build_failed{repo="broken"} 1
ca_reconciler_repo_build_failed{repo="ok"} 0
ca_reconciler_repo_build_failed{repo="slow"} 1
`), "ca_reconciler_repo_build_failed"); err != nil {
		t.Errorf("repo_build_failed: %v", err)
	}
	if got := testutil.ToFloat64(e.m.BuildsInFlight); got != 0 || e.w.InFlight() != 0 {
		t.Errorf("builds in flight: gauge %v, watcher %d; want 0", got, e.w.InFlight())
	}

	broken := e.result("broken")
	if broken.Result != vocab.BuildFailure || !broken.Completed || len(broken.LogTail) == 0 ||
		broken.LogTail[len(broken.LogTail)-1] != `    required by: world[nosuch]` {
		t.Errorf("broken result %+v: want a completed failure whose log ends with the missing package", broken)
	}
	slow := e.result("slow")
	if slow.Result != vocab.BuildTimeout || slow.Completed || slow.Duration() < time.Second {
		t.Errorf("slow result %+v: want a timeout after at least the 1s limit, not completed", slow)
	}
	failed := e.logs.FilterMessage("build failed").FilterField(zap.String("repo", "broken")).All()
	if len(failed) != 1 {
		t.Fatalf("%d \"build failed\" logs for broken, want 1", len(failed))
	}
	if tail := fmt.Sprint(failed[0].ContextMap()["log_tail"]); !strings.Contains(tail, `nosuch (no such package):`) {
		t.Errorf("logged log_tail %s: want the catalog error", tail)
	}
	if n := e.logs.FilterMessage("build timed out; no longer following it").FilterField(zap.String("repo", "slow")).Len(); n != 1 {
		t.Errorf("%d timeout logs for slow, want 1", n)
	}

	// Nothing is counted twice, and with nothing in flight (and the sweep
	// not due) a tick makes no call.
	calls := e.calls(func() {
		for range 5 {
			e.w.Poll(context.Background())
		}
	})
	if calls != 0 {
		t.Errorf("%d ListBuildReports calls in 5 idle ticks, want 0", calls)
	}
	if e.builds("ok", "success") != 2 || e.builds("broken", "failure") != 1 || e.builds("slow", "timeout") != 1 {
		t.Errorf("counts changed after more polls")
	}
}

// TestFailureAfterTheLimitIsTimeout: a build the API itself ends as failed
// after running past the limit (as the real service does at one hour)
// counts as a timeout, and its log is read.
func TestFailureAfterTheLimitIsTimeout(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t,
		emulator.Options{BuildTimeout: 500 * time.Millisecond, HangRepos: []string{"slow"}},
		buildwatch.Config{}, clock)
	e.repo("slow", true)
	e.write("slow", "curl")
	clock.Advance(time.Hour) // before the emulator ends the build, 500ms from now
	id := e.ids["slow"]
	for i := 0; ; i++ {
		r := e.emu.BuildReports(id)
		if len(r) == 1 && r[0].GetResult() != registryv1.BuildReport_Unknown {
			break
		}
		if i == 500 {
			t.Fatal("the emulator never ended the hanging build")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.w.Poll(context.Background())
	r := e.result("slow")
	if r.Result != vocab.BuildTimeout || !r.Completed || r.Duration() != time.Hour {
		t.Errorf("result %+v: want a completed timeout of 1h", r)
	}
	if len(r.LogTail) == 0 || !strings.HasPrefix(r.LogTail[len(r.LogTail)-1], "ERROR: build timed out after") {
		t.Errorf("log tail %q: want the emulator's timeout line", r.LogTail)
	}
	if e.builds("slow", "timeout") != 1 || e.durations() != 1 {
		t.Errorf("timeout count %v, durations %d; want 1 and 1", e.builds("slow", "timeout"), e.durations())
	}
}

// TestSelfStartedBuilds: builds Chainguard starts on its own are seen by the
// sweep, once per sweep interval, and counted; builds of repos the daemon
// does not know are not.
func TestSelfStartedBuilds(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, emulator.Options{BuildDuration: 20 * time.Millisecond}, buildwatch.Config{SweepInterval: time.Minute}, clock)
	e.repo("a", true)
	stranger := e.repo("stranger", false)
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 0 {
		t.Errorf("%d calls before anything happened, want 0", n)
	}
	if err := e.emu.TriggerRebuild(e.ids["a"]); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.TriggerRebuild(stranger); err != nil {
		t.Fatal(err)
	}
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 0 {
		t.Errorf("%d calls before the sweep is due, want 0", n)
	}
	clock.Advance(time.Minute)
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 1 {
		t.Errorf("%d calls for the sweep of one org, want 1", n)
	}
	e.pollUntil("the self-started build counted", func() bool { return e.builds("a", "success") == 1 })
	if got := e.counted(vocab.BuildSuccess); got != 1 {
		t.Errorf("builds_total{success} = %v, want 1 (none for the unmanaged repo)", got)
	}
	r := e.result("a")
	if r.Result != vocab.BuildSuccess || !r.Completed {
		t.Errorf("result %+v", r)
	}
	// The build is recorded in the store for /status, exactly as counted.
	st, _ := e.store.Repo("a")
	want := &store.BuildInfo{ID: r.BuildID, Result: vocab.BuildSuccess, Finished: r.Finished, Seconds: r.Duration().Seconds()}
	if diff := cmp.Diff(want, st.LastBuild); diff != "" {
		t.Errorf("store's last build of a (-want +got):\n%s", diff)
	}
	if _, ok := e.store.Repo("stranger"); ok {
		t.Errorf("the unmanaged repo is in the store")
	}
}

// TestPollCostIndependentOfIdleRepos measures ListBuildReports calls per
// tick with 1 and with 200 idle repos beside one repo whose build is in
// flight: one call per tick either way, none while nothing is in flight,
// and one per sweep.
func TestPollCostIndependentOfIdleRepos(t *testing.T) {
	for _, idle := range []int{1, 200} {
		t.Run(fmt.Sprintf("idle=%d", idle), func(t *testing.T) {
			clock := newFakeClock()
			e := newEnv(t, emulator.Options{HangRepos: []string{"busy"}}, buildwatch.Config{SweepInterval: time.Minute}, clock)
			for i := range idle {
				e.repo(fmt.Sprintf("idle-%03d", i), true)
			}
			e.repo("busy", true)
			e.write("busy", "curl")

			const ticks = 10
			inFlight := e.calls(func() {
				for range ticks {
					e.w.Poll(context.Background())
				}
			})
			if e.w.InFlight() != 1 {
				t.Fatalf("%d builds in flight, want 1", e.w.InFlight())
			}
			// Past the build limit: the build times out, and the sweep is due.
			clock.Advance(time.Hour + time.Minute)
			sweep := e.calls(func() { e.w.Poll(context.Background()) })
			if e.builds("busy", "timeout") != 1 {
				t.Fatalf("busy build not timed out")
			}
			quiet := e.calls(func() {
				for range ticks {
					e.w.Poll(context.Background())
				}
			})
			t.Logf("%d idle repos: %d ListBuildReports calls in %d ticks with one build in flight, %d for a sweep, %d in %d ticks with nothing in flight",
				idle, inFlight, ticks, sweep, quiet, ticks)
			if inFlight != ticks || sweep != 1 || quiet != 0 {
				t.Errorf("calls: %d in flight (want %d), %d sweep (want 1), %d quiet (want 0)", inFlight, ticks, sweep, quiet)
			}
		})
	}
}

// TestOneCallPerOrg: repos of two organizations, builds in flight in both:
// one call per organization per tick.
func TestOneCallPerOrg(t *testing.T) {
	e := newEnv(t, emulator.Options{HangRepos: []string{"busy", "busy2"}}, buildwatch.Config{}, newFakeClock())
	e.repo("busy", true)
	for i := range 5 {
		e.repo(fmt.Sprintf("x%d", i), true)
	}
	e.write("busy", "curl")
	other := e.emu.CreateOrg("other.example")
	r := e.emu.CreateRepo(other, &registryv1.Repo{Name: "busy2", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "contents: {}"}})
	e.mu.Lock()
	e.ids["busy2"] = r.GetId()
	e.mu.Unlock()
	e.store.PutRepo(store.RepoState{Repo: "busy2", RepoID: r.GetId()})
	e.write("busy2", "curl")
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 2 || e.w.InFlight() != 2 {
		t.Errorf("%d calls, %d in flight; want 2 and 2", n, e.w.InFlight())
	}
}

// TestListErrorsAreRetried: a failing ListBuildReports is logged and the
// next tick retries; nothing is lost.
func TestListErrorsAreRetried(t *testing.T) {
	e := newEnv(t, emulator.Options{BuildDuration: 20 * time.Millisecond}, buildwatch.Config{}, nil)
	e.repo("a", true)
	e.emu.InjectFault(listBuildReports, codes.Unavailable, 2)
	e.write("a", "curl")
	e.w.Poll(context.Background())
	e.w.Poll(context.Background())
	if n := e.logs.FilterMessage("listing builds failed; will retry").Len(); n != 2 {
		t.Errorf("%d list failures logged, want 2", n)
	}
	e.pollUntil("the build counted", func() bool { return e.builds("a", "success") == 1 })
}

// TestWatchWithoutBuildsStops: a write whose builds never show up is polled
// for the grace period only.
func TestWatchWithoutBuildsStops(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, emulator.Options{}, buildwatch.Config{Grace: 5 * time.Minute, SweepInterval: 24 * time.Hour}, clock)
	id := e.repo("a", true)
	e.w.Watch("a", id, clock.Now())
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 1 {
		t.Errorf("%d calls while waiting for the write's builds, want 1", n)
	}
	clock.Advance(5 * time.Minute)
	if n := e.calls(func() { e.w.Poll(context.Background()) }); n != 0 {
		t.Errorf("%d calls after the grace period, want 0", n)
	}
}

// TestRun follows a build from the loop.
func TestRun(t *testing.T) {
	e := newEnv(t, emulator.Options{BuildDuration: 20 * time.Millisecond}, buildwatch.Config{PollInterval: 10 * time.Millisecond}, nil)
	e.repo("a", true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.w.Run(ctx) }()
	e.write("a", "curl")
	for i := 0; e.builds("a", "success") != 1; i++ {
		if i == 1000 {
			t.Fatal("build never counted by Run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestNewNeedsAPIAndMetrics(t *testing.T) {
	if _, err := buildwatch.New(buildwatch.Config{}); err == nil || err.Error() != "build watcher: API and Metrics must be set" {
		t.Errorf("New without API: %v", err)
	}
}

// A build that times out after its repo stopped being managed (its file
// was removed and the reconciler deleted its series) is logged, not
// counted, so the repo's series do not come back.
func TestBuildOfRemovedRepoIsNotCounted(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, emulator.Options{HangRepos: []string{"gone"}}, buildwatch.Config{Timeout: time.Minute}, clock)
	e.repo("gone", true)
	e.write("gone", "curl")
	e.pollUntil("the build to be seen in flight", func() bool { return e.w.InFlight() == 1 })
	e.store.Retain(func(name string) bool { return name != "gone" }) // the file is removed
	e.m.DeleteRepo("gone", vocab.StatusSynced)
	clock.Advance(2 * time.Minute)
	e.w.Poll(context.Background())
	if got := e.result("gone").Result; got != vocab.BuildTimeout {
		t.Errorf("result = %q, want timeout", got)
	}
	if n := e.counted(vocab.BuildTimeout); n != 0 {
		t.Errorf("builds_total{timeout} = %v after the repo was removed, want 0 (not counted)", n)
	}
	if n := testutil.CollectAndCount(e.m.PerRepo, "ca_reconciler_repo_build_failed"); n != 0 {
		t.Errorf("repo_build_failed has %d series after the repo was removed, want 0", n)
	}
}
