package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func TestBoundedLabelsArePreinitialised(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1")
	for name, want := range map[string]int{
		"ca_reconciler_reconciles_total":           len(vocab.Triggers()) * len(vocab.CycleResults()),
		"ca_reconciler_reconcile_duration_seconds": len(vocab.Phases()),
		"ca_reconciler_files":                      len(vocab.FileStates()),
		"ca_reconciler_git_fetches_total":          len(vocab.FetchResults()),
		"ca_reconciler_build_info":                 1,
	} {
		if got := testutil.CollectAndCount(reg, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Reconciles.WithLabelValues("webhook", "error")); got != 0 {
		t.Errorf("reconciles_total{webhook,error} = %v", got)
	}
}

// repoSeriesText is every series with a repo label, one line each.
func repoSeriesText(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := ""
			repo := false
			for _, l := range m.GetLabel() {
				labels += " " + l.GetName() + "=" + l.GetValue()
				repo = repo || l.GetName() == "repo"
			}
			if repo {
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				out = append(out, fmt.Sprintf("%s%s %v", f.GetName(), labels, v))
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestRepoSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1")
	// A repo has one status series, for its current status.
	m.SetRepoStatus("web", "", vocab.StatusSynced)
	m.SetRepoStatus("api", "", vocab.StatusSynced)
	m.SetRepoStatus("web", vocab.StatusSynced, vocab.StatusDrifted)
	m.ObserveDrift("web")
	m.ObserveWrite(vocab.WriteSuccess)
	m.SetRepoStatus("web", vocab.StatusDrifted, vocab.StatusDrifted) // no change
	m.ObserveBuild("web", vocab.BuildFailure, 120)
	m.ObserveBuild("web", vocab.BuildTimeout, -1) // never completed: no duration
	m.ObserveBuild("api", vocab.BuildSuccess, 60)
	want := []string{
		"ca_reconciler_drift_detected_total repo=web 1",
		"ca_reconciler_repo_build_failed repo=api 0",
		"ca_reconciler_repo_build_failed repo=web 1",
		"ca_reconciler_repo_status repo=api status=synced 1",
		"ca_reconciler_repo_status repo=web status=drifted 1",
	}
	if diff := cmp.Diff(want, repoSeriesText(t, reg)); diff != "" {
		t.Errorf("repo series (-want +got):\n%s", diff)
	}
	// Writes and builds are counted by result, with every result at zero
	// from the start, so that increase() sees the first one.
	for r, want := range map[vocab.WriteResult]float64{vocab.WriteSuccess: 1, vocab.WriteError: 0} {
		if got := testutil.ToFloat64(m.Writes.WithLabelValues(string(r))); got != want {
			t.Errorf("writes_total{%s} = %v, want %v", r, got, want)
		}
	}
	for r, want := range map[vocab.BuildResult]float64{vocab.BuildSuccess: 1, vocab.BuildFailure: 1, vocab.BuildTimeout: 1} {
		if got := testutil.ToFloat64(m.Builds.WithLabelValues(string(r))); got != want {
			t.Errorf("builds_total{%s} = %v, want %v", r, got, want)
		}
	}
	want2 := testenv.HistogramText("ca_reconciler_build_duration_seconds", "Duration of completed builds.",
		[]float64{10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200},
		[]uint64{0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 180, 2)
	if err := testutil.CollectAndCompare(m.BuildDuration, strings.NewReader(want2)); err != nil {
		t.Error(err)
	}

	// Removing the repo's file removes every one of its series; api's stay.
	m.DeleteRepo("web", vocab.StatusDrifted)
	want = []string{
		"ca_reconciler_repo_build_failed repo=api 0",
		"ca_reconciler_repo_status repo=api status=synced 1",
	}
	if diff := cmp.Diff(want, repoSeriesText(t, reg)); diff != "" {
		t.Errorf("repo series after deleting web (-want +got):\n%s", diff)
	}
}

func TestSetSourceKeepsOneRevision(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1")
	m.SetSource("main", "aaa", 100)
	m.SetSource("main", "bbb", 200)
	if got := testutil.CollectAndCount(reg, "ca_reconciler_source_info"); got != 1 {
		t.Errorf("%d source_info series, want 1", got)
	}
	if got := testutil.ToFloat64(m.SourceInfo.WithLabelValues("main", "bbb")); got != 1 {
		t.Errorf("source_info{bbb} = %v", got)
	}
}

func TestServerRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg, "v1")
	var ready atomic.Bool
	mux := metrics.NewMux(metrics.ServerConfig{
		Gatherer: reg,
		Status:   func() any { return map[string]string{"revision": "abc"} },
		Ready: func() (bool, string) {
			if !ready.Load() {
				return false, "first cycle not finished"
			}
			return true, "ready"
		},
		Handlers: map[string]http.Handler{"GET /{$}": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "page") })},
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok\n"},
		{"/readyz", 503, "first cycle not finished\n"},
		{"/status", 200, "{\n  \"revision\": \"abc\"\n}\n"},
		{"/", 200, "page"},
		{"/nope", 404, "404 page not found\n"},
	} {
		if code, body := get(c.path); code != c.code || body != c.body {
			t.Errorf("GET %s = %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `ca_reconciler_build_info{go_version=`) {
		t.Errorf("/metrics: %d", code)
	}
}

// BenchmarkRepoSeries is the live heap of the per-repo series of 5,000
// repos with their three series each (status, a drift, a finished build).
func BenchmarkRepoSeries(b *testing.B) {
	names := make([]string, 5000)
	for i := range names {
		names[i] = fmt.Sprintf("repo-%04d", i)
	}
	heap := func() uint64 {
		runtime.GC()
		var s runtime.MemStats
		runtime.ReadMemStats(&s)
		return s.HeapAlloc
	}
	var live uint64
	for b.Loop() {
		before := heap()
		m := metrics.New(prometheus.NewRegistry(), "v1")
		for _, n := range names {
			m.SetRepoStatus(n, "", vocab.StatusSynced)
			m.ObserveDrift(n)
			m.ObserveBuild(n, vocab.BuildSuccess, 1)
		}
		live = heap() - before
		runtime.KeepAlive(m)
	}
	b.ReportMetric(float64(live)/float64(len(names)), "B/repo")
}
