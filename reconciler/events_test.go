package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// TestSinks hands one event of each kind to the built-in sinks and checks
// what each made of it: the metric series and the log lines. (The build
// watcher sink is exercised end to end in cmd/ca-reconciler's Prometheus
// test, where a write's build is followed and counted.)
func TestSinks(t *testing.T) {
	commit := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	at := commit.Add(90 * time.Second)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	core, logs := observer.New(zapcore.DebugLevel)
	sinks := []Sink{metricsSink{m}, logSink{zap.New(core)}}
	base := Event{Repo: "web", RepoID: "org/web", File: "f/web.yaml"}
	with := func(f func(e *Event)) Event { e := base; f(&e); return e }
	dispatch(sinks, []Event{
		with(func(e *Event) { e.Kind, e.To = vocab.EventStatusChanged, vocab.StatusSynced }),
		with(func(e *Event) { e.Kind, e.Diff = vocab.EventDriftDetected, []string{"+ package curl"} }),
		with(func(e *Event) {
			e.Kind, e.Action, e.DesiredHash, e.At, e.Commit, e.Converged = vocab.EventWritten, vocab.ActionUpdate, "h1", at, commit, true
		}),
		with(func(e *Event) { e.Kind, e.At = vocab.EventWritten, at }), // a Console edit put back: no commit time
		with(func(e *Event) { e.Kind, e.Reason, e.Attempts = vocab.EventWriteFailed, "denied", 1 }),
		with(func(e *Event) {
			e.Kind, e.From, e.To, e.Reason = vocab.EventStatusChanged, vocab.StatusSynced, vocab.StatusFailed, "denied"
		}),
		with(func(e *Event) {
			e.Kind, e.From, e.To = vocab.EventStatusChanged, vocab.StatusFailed, vocab.StatusStalled
		}),
		with(func(e *Event) { e.Kind, e.Writes = vocab.EventStalled, 3 }),
		with(func(e *Event) {
			e.Kind, e.From, e.To, e.Reason = vocab.EventStatusChanged, vocab.StatusStalled, vocab.StatusInvalid, "f/web.yaml:1:1: bad"
		}),
		with(func(e *Event) {
			e.Kind, e.From, e.To = vocab.EventStatusChanged, vocab.StatusInvalid, vocab.StatusOrphan
		}),
	})
	// One status series, for the last status, and the drift counter.
	if err := testutil.CollectAndCompare(m.PerRepo, strings.NewReader(`
# HELP ca_reconciler_drift_detected_total Times the repo was found drifted after being in sync (or on first sight); the series appears at the first drift.
# TYPE ca_reconciler_drift_detected_total counter
ca_reconciler_drift_detected_total{repo="web"} 1
# HELP ca_reconciler_repo_status 1 for each repo, labelled with its current status (one series per repo; drifted, failed and stalled mean the live overlay differs from the file).
# TYPE ca_reconciler_repo_status gauge
ca_reconciler_repo_status{repo="web",status="orphan"} 1
`)); err != nil {
		t.Errorf("repo series: %v", err)
	}
	for _, c := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.Writes.WithLabelValues("success"), 2},
		{m.Writes.WithLabelValues("error"), 1},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%v = %v, want %v", c.c, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.CommitToWrite); n != 1 {
		t.Fatalf("commit_to_write has %d series", n)
	}
	if err := testutil.CollectAndCompare(m.CommitToWrite, strings.NewReader(testenv.HistogramText("ca_reconciler_commit_to_write_seconds",
		"Time from a revision's commit to the successful write of a repo it changed.",
		[]float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}, []uint64{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, 90, 1))); err != nil {
		t.Error(err)
	}
	type line struct {
		Level zapcore.Level
		Msg   string
	}
	var got []line
	for _, e := range logs.All() {
		got = append(got, line{e.Level, e.Message})
	}
	want := []line{
		{zapcore.InfoLevel, "repo status changed"},
		{zapcore.InfoLevel, "drift detected"},
		{zapcore.InfoLevel, "repo written"},
		{zapcore.InfoLevel, "repo written"},
		{zapcore.ErrorLevel, "write failed"},
		{zapcore.ErrorLevel, "repo write failed"},
		{zapcore.ErrorLevel, "repo stalled: writes do not converge; not writing again until its file changes"},
		{zapcore.ErrorLevel, "repo cannot be reconciled"},
		{zapcore.WarnLevel, "repo has an overlay but no file; leaving it untouched"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}

	// A repo gone loses every series and is logged.
	dispatch(sinks, []Event{with(func(e *Event) { e.Kind, e.From = vocab.EventRepoGone, vocab.StatusOrphan })})
	for _, name := range []string{"ca_reconciler_repo_status", "ca_reconciler_drift_detected_total"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s has %d series after the repo was gone", name, n)
		}
	}
	if last := logs.All()[logs.Len()-1]; last.Message != "repo no longer managed" {
		t.Errorf("last log line %q", last.Message)
	}
}
