package reconciler_test

import (
	"sync"
	"testing"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// eventLog is a Sink that keeps the kinds of the events per repo.
type eventLog struct {
	mu    sync.Mutex
	kinds map[string][]vocab.EventKind
}

func (l *eventLog) Handle(e reconciler.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = map[string][]vocab.EventKind{}
	}
	l.kinds[e.Repo] = append(l.kinds[e.Repo], e.Kind)
}

func (l *eventLog) take() map[string][]vocab.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds
	l.kinds = nil
	return k
}

func fileAOverlay(t *testing.T) overlay.Overlay { return mustParse(t, fileA) }

func (w *world) liveEquals(name string, o overlay.Overlay) bool {
	return overlay.Equal(w.live(name), o)
}

func statuses(s store.Status) map[string]vocab.Status {
	out := map[string]vocab.Status{}
	for _, r := range s.Repos {
		out[r.Repo] = r.Status
	}
	return out
}

// The reconciler's cycle with the lifecycle, against the emulator and a Git
// repo: a create, a refused source remembered for SourceRetry, a suspended
// repo, a prune, its events, store states and metrics.
func TestLifecycleCycles(t *testing.T) {
	w := newWorld(t)
	if _, err := w.emu.SetSourceImages(w.orgID, "node"); err != nil {
		t.Fatal(err)
	}
	w.customRepo("held", fileAOverlay(t))
	w.customRepo("old", fileAOverlay(t))
	w.customRepo("web", fileAOverlay(t))
	w.git.commit(map[string]string{
		"ca-images-iac/held.yaml":           "contents:\n  packages: [jq]\n",
		"ca-images-iac/old.yaml":            fileA,
		"ca-images-iac/web.yaml":            fileA,
		"ca-images-iac/custom.yaml":         fileA,
		"ca-images-iac/refused.yaml":        fileA,
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  custom:\n    source: node\n  refused:\n    source: nosuch\n  held:\n    suspend: true\n",
	})
	src, err := gitsource.New(gitsource.Config{URL: w.git.dir, Path: "ca-images-iac", CacheDir: t.TempDir(), History: true, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	clk := clockwork.NewFakeClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) // RunOnce only reads Now
	events := &eventLog{}
	pr := prometheus.NewRegistry()
	m := metrics.New(pr, "test")
	r := reconciler.New(reconciler.Config{Org: "acme.example", Dir: "ca-images-iac", RetryInitial: time.Millisecond, Policy: reconciler.Policy{Prune: true}},
		src, w.client, zaptest.NewLogger(t), m, reconciler.WithClock(clk), reconciler.WithSink(events))
	ctx := t.Context()
	creates := func() int { return w.emu.Calls(registryv1.Registry_CreateRepo_FullMethodName) }

	rep := r.RunOnce(ctx, vocab.TriggerStart)
	if diff := cmp.Diff(map[string]vocab.Status{
		"custom": vocab.StatusSynced, "refused": vocab.StatusInvalid, "held": vocab.StatusSuspended, "old": vocab.StatusSynced, "web": vocab.StatusSynced,
	}, statuses(r.Status())); diff != "" {
		t.Errorf("statuses after the first cycle (-want +got):\n%s", diff)
	}
	if rep.Result != vocab.CyclePartial || creates() != 2 {
		t.Errorf("first cycle: %s, %d creates; want partial (refused is invalid) and 2", rep.Result, creates())
	}
	got := events.take()
	if diff := cmp.Diff([]vocab.EventKind{vocab.EventDriftDetected, vocab.EventCreated, vocab.EventStatusChanged}, got["custom"]); diff != "" {
		t.Errorf("custom's events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vocab.EventKind{vocab.EventDriftDetected, vocab.EventWriteFailed, vocab.EventStatusChanged}, got["refused"]); diff != "" {
		t.Errorf("refused's events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]vocab.EventKind{vocab.EventDriftDetected, vocab.EventStatusChanged}, got["held"]); diff != "" {
		t.Errorf("held's events (-want +got):\n%s", diff)
	}
	if !w.liveEquals("held", fileAOverlay(t)) {
		t.Errorf("the suspended repo was written")
	}
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"creates", m.LifecycleWrites.WithLabelValues("create", "success"), 1},
		{"refused creates", m.LifecycleWrites.WithLabelValues("create", "error"), 1},
		{"suspended and drifted", m.HeldRepos.WithLabelValues("suspended"), 1},
		{"writes", m.Writes.WithLabelValues("success"), 1},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	// The refused source is not tried again while it is fresh, and no
	// event repeats; after SourceRetry it is tried again.
	rep = r.RunOnce(ctx, vocab.TriggerInterval)
	if creates() != 2 || len(rep.Writes) != 0 || len(events.take()) != 0 {
		t.Errorf("second cycle: %d creates (want 2), writes %v", creates(), rep.Writes)
	}
	clk.Advance(reconciler.SourceRetry)
	r.RunOnce(ctx, vocab.TriggerInterval)
	if creates() != 3 {
		t.Errorf("after SourceRetry: %d creates, want 3", creates())
	}

	// old's file deleted: pruned, then forgotten.
	w.git.commit(map[string]string{"-ca-images-iac/old.yaml": ""})
	events.take()
	r.RunOnce(ctx, vocab.TriggerWebhook)
	if st := statuses(r.Status())["old"]; st != vocab.StatusPruned || !w.liveEquals("old", overlay.Overlay{}) {
		t.Errorf("old after its file went: %s, live %+v", st, w.live("old"))
	}
	if diff := cmp.Diff([]vocab.EventKind{vocab.EventDriftDetected, vocab.EventPruned, vocab.EventStatusChanged}, events.take()["old"]); diff != "" {
		t.Errorf("old's events (-want +got):\n%s", diff)
	}
	if p := r.Status().Prune; p == nil || !cmp.Equal(p.Candidates, []string{"old"}) || p.Held != "" {
		t.Errorf("/status prune = %+v", p)
	}
	r.RunOnce(ctx, vocab.TriggerInterval)
	if _, ok := statuses(r.Status())["old"]; ok || testutil.ToFloat64(m.LifecycleWrites.WithLabelValues("prune", "success")) != 1 {
		t.Errorf("old is still known after the prune, or not counted: %v", r.Status().Repos)
	}
}
