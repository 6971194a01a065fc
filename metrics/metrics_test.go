package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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

func TestRepoSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1")
	m.SetRepoStatus("web", "drifted")
	m.SetRepoStatus("api", "synced")
	for _, s := range vocab.Statuses() {
		want := 0.0
		if s == "drifted" {
			want = 1
		}
		if got := testutil.ToFloat64(m.RepoStatus.WithLabelValues("web", string(s))); got != want {
			t.Errorf("repo_status{web,%s} = %v, want %v", s, got, want)
		}
	}
	if testutil.ToFloat64(m.RepoDrifted.WithLabelValues("web")) != 1 || testutil.ToFloat64(m.RepoDrifted.WithLabelValues("api")) != 0 {
		t.Errorf("repo_drifted wrong")
	}
	// Writes and builds start at zero for every result, so increase() sees
	// the first one.
	if n := testutil.CollectAndCount(m.Writes); n != 2*len(vocab.WriteResults()) {
		t.Errorf("%d writes_total series, want %d", n, 2*len(vocab.WriteResults()))
	}
	if n := testutil.CollectAndCount(m.Builds); n != 2*len(vocab.BuildResults()) {
		t.Errorf("%d builds_total series, want %d", n, 2*len(vocab.BuildResults()))
	}

	m.ObserveBuild("web", "failure", 120)
	m.ObserveBuild("web", "timeout", -1) // never completed: no duration
	m.ObserveBuild("api", "success", 60)
	if got := testutil.ToFloat64(m.Builds.WithLabelValues("web", "failure")); got != 1 {
		t.Errorf("builds_total{web,failure} = %v", got)
	}
	if testutil.ToFloat64(m.RepoBuildFailed.WithLabelValues("web")) != 1 || testutil.ToFloat64(m.RepoBuildFailed.WithLabelValues("api")) != 0 {
		t.Errorf("repo_build_failed wrong")
	}
	want := `
# HELP ca_reconciler_build_duration_seconds Duration of completed builds.
# TYPE ca_reconciler_build_duration_seconds histogram
ca_reconciler_build_duration_seconds_bucket{le="10"} 0
ca_reconciler_build_duration_seconds_bucket{le="30"} 0
ca_reconciler_build_duration_seconds_bucket{le="60"} 1
ca_reconciler_build_duration_seconds_bucket{le="120"} 2
ca_reconciler_build_duration_seconds_bucket{le="300"} 2
ca_reconciler_build_duration_seconds_bucket{le="600"} 2
ca_reconciler_build_duration_seconds_bucket{le="900"} 2
ca_reconciler_build_duration_seconds_bucket{le="1200"} 2
ca_reconciler_build_duration_seconds_bucket{le="1800"} 2
ca_reconciler_build_duration_seconds_bucket{le="2700"} 2
ca_reconciler_build_duration_seconds_bucket{le="3600"} 2
ca_reconciler_build_duration_seconds_bucket{le="5400"} 2
ca_reconciler_build_duration_seconds_bucket{le="7200"} 2
ca_reconciler_build_duration_seconds_bucket{le="+Inf"} 2
ca_reconciler_build_duration_seconds_sum 180
ca_reconciler_build_duration_seconds_count 2
`
	if err := testutil.CollectAndCompare(m.BuildDuration, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// Removing the repo's file removes every one of its series; api's stay.
	m.DeleteRepo("web")
	for name, want := range map[string]int{
		"ca_reconciler_repo_status":          len(vocab.Statuses()),
		"ca_reconciler_repo_drifted":         1,
		"ca_reconciler_drift_detected_total": 1,
		"ca_reconciler_writes_total":         len(vocab.WriteResults()),
		"ca_reconciler_builds_total":         len(vocab.BuildResults()),
		"ca_reconciler_repo_build_failed":    1,
	} {
		if got := testutil.CollectAndCount(reg, name); got != want {
			t.Errorf("%s: %d series after deleting web, want %d (api's)", name, got, want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "repo" && l.GetValue() == "web" {
					t.Errorf("%s still has a series for web", f.GetName())
				}
			}
		}
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
