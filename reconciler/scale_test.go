package reconciler_test

import (
	"fmt"
	"strings"
	"testing"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func scaleFile(i int) string {
	return fmt.Sprintf("contents:\n  packages: [curl, jq, wget]\nenvironment:\n  APP_ENV: production\n  N: %q\nannotations:\n  com.example.team: t%d\naccounts:\n  run-as: app\n  users:\n    - {username: app, uid: 1000, gid: 1000}\n", fmt.Sprint(i), i)
}

// scaleWorld is n repos, each managed by its file and in sync, after one
// cycle.
func scaleWorld(tb testing.TB, n int) (*world, harness) {
	tb.Helper()
	w := newWorld(tb)
	files := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("repo-%04d", i)
		src := scaleFile(i)
		w.customRepo(name, mustParse(tb, src))
		files["ca-images-iac/"+name+".yaml"] = src
	}
	w.git.commit(files)
	h := w.reconciler(vocab.ModeApply, nil, nil)
	if rep := h.r.RunOnce(tb.Context(), vocab.TriggerStart); rep.Err != nil || len(rep.Writes) != 0 || rep.Result != vocab.CycleSuccess {
		tb.Fatalf("first cycle: err %v, %d writes, result %s", rep.Err, len(rep.Writes), rep.Result)
	}
	return w, h
}

// BenchmarkIdleCycle is one cycle with nothing to do at 1,000 repos: the
// Git remote has not moved and every repo is in sync. Its cost is what the
// daemon spends every --interval.
func BenchmarkIdleCycle(b *testing.B) {
	_, h := scaleWorld(b, 1000)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if rep := h.r.RunOnce(ctx, vocab.TriggerInterval); rep.Err != nil || len(rep.Writes) != 0 {
			b.Fatalf("idle cycle: %v, %d writes", rep.Err, len(rep.Writes))
		}
	}
}

const (
	listRepos  = registryv1.Registry_ListRepos_FullMethodName
	updateRepo = registryv2.ReposService_UpdateRepo_FullMethodName
)

// repoSeries renders every series with a repo label, as a scrape shows them.
func repoSeries(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "repo" {
					fmt.Fprintf(&b, "%s %v\n", f.GetName(), m)
				}
			}
		}
	}
	return b.String()
}

// TestIdleCycleAtScale counts, at 1,000 repos, what idle cycles and a
// one-file push cost: an idle cycle makes one ListRepos, writes nothing,
// parses nothing, hashes no live overlay, emits no event and touches no
// repo's metric series; a push that changes one file reads and parses that
// file only and writes that repo only.
func TestIdleCycleAtScale(t *testing.T) {
	const n = 1000
	w, h := scaleWorld(t, n)
	ctx := t.Context()
	before := repoSeries(t, h.reg)
	for i := range 3 {
		lists, updates := w.emu.Calls(listRepos), w.emu.Calls(updateRepo)
		rep := h.r.RunOnce(ctx, vocab.TriggerInterval)
		got := [6]int{w.emu.Calls(listRepos) - lists, w.emu.Calls(updateRepo) - updates, len(rep.Writes), rep.Parsed, rep.LiveHashed, rep.Events}
		if want := [6]int{1, 0, 0, 0, 0, 0}; got != want {
			t.Errorf("idle cycle %d: ListRepos, UpdateRepo, writes, files parsed, live overlays hashed, events = %v, want %v", i, got, want)
		}
	}
	if after := repoSeries(t, h.reg); after != before {
		t.Errorf("idle cycles changed per-repo series")
	}

	// One file changes: one file parsed, one repo written, one repo's
	// overlay hashed again (it was written), events for that repo only.
	w.git.commit(map[string]string{"ca-images-iac/repo-0042.yaml": "contents:\n  packages: [curl]\n"})
	updates := w.emu.Calls(updateRepo)
	rep := h.r.RunOnce(ctx, vocab.TriggerWebhook)
	if rep.Parsed != 1 || rep.Reused != n-1 {
		t.Errorf("push: parsed %d, reused %d; want 1 and %d", rep.Parsed, rep.Reused, n-1)
	}
	if got := w.emu.Calls(updateRepo) - updates; got != 1 || len(rep.Writes) != 1 {
		t.Errorf("push: %d UpdateRepo calls, writes %v; want 1", got, rep.Writes)
	}
	if _, ok := rep.Writes["repo-0042"]; !ok {
		t.Errorf("push wrote %v, want repo-0042", rep.Writes)
	}
	// The next cycle sees the written overlay: one live hash, no event.
	rep = h.r.RunOnce(ctx, vocab.TriggerInterval)
	if rep.LiveHashed != 1 || rep.Events != 0 || len(rep.Writes) != 0 {
		t.Errorf("cycle after the push: hashed %d, events %d, writes %d; want 1, 0, 0", rep.LiveHashed, rep.Events, len(rep.Writes))
	}
	rep = h.r.RunOnce(ctx, vocab.TriggerInterval)
	if rep.LiveHashed != 0 || rep.Events != 0 {
		t.Errorf("idle again: hashed %d, events %d", rep.LiveHashed, rep.Events)
	}
}
