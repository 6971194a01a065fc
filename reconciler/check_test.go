package reconciler_test

import (
	"strings"
	"testing"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const (
	listAPKs         = apkv1.APK_ListAPKs_FullMethodName
	listBuildReports = registryv1.Registry_ListBuildReports_FullMethodName
)

// checked is a reconciler with a real package checker over the world's
// client, and a log to read.
func (w *world) checked(mode vocab.Mode) (harness, *observer.ObservedLogs) {
	w.t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	pr := prometheus.NewRegistry()
	m := metrics.New(pr, "test")
	checker, err := packagecheck.New(w.client, packagecheck.Config{Logger: log, Observer: m.PackageCheck, Dir: w.t.TempDir()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = checker.Close() })
	r := reconciler.New(reconciler.Config{Org: "acme.example", Dir: "ca-images-iac", Mode: mode, RetryInitial: time.Millisecond},
		w.source(), w.client, log, m, reconciler.WithPackageCheck(checker, 10*time.Minute))
	return harness{r: r, reg: pr, m: m}, logs
}

// checkRepos creates Custom Assembly repos whose builds install glibc and
// busybox (on both architectures) besides the overlay.
func (w *world) checkRepos(names ...string) {
	w.t.Helper()
	for _, name := range names {
		id := w.customRepo(name, overlay.Overlay{Packages: []string{"jq"}})
		if err := w.emu.SetBaseImage(id, []string{"glibc", "busybox"}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func problemsOf(p reconciler.Plan) map[string][]string {
	out := map[string][]string{}
	for _, c := range p.Changes {
		for _, pr := range c.Problems() {
			out[c.Repo] = append(out[c.Repo], pr.String())
		}
	}
	return out
}

// In one commit, four files the org's package index cannot build are
// refused with file:line, package and architecture and not written (no
// build starts), while the other file is written; the refusals are in the
// plan, the store and the metrics; later cycles reuse the result instead
// of asking the API again; and an idle cycle still costs one ListRepos.
func TestPackageCheckRefusesWhatCannotBuild(t *testing.T) {
	w := newWorld(t)
	if err := w.emu.SetCatalogPackages(w.orgID, emutest.Catalog()); err != nil {
		t.Fatal(err)
	}
	w.checkRepos("good", "missing", "noarm", "nodep", "noversion")
	w.git.commit(map[string]string{
		"ca-images-iac/good.yaml":      "contents:\n  packages: [jq, curl]\n",
		"ca-images-iac/missing.yaml":   "contents:\n  packages:\n    - jq\n    - mongo-9.0\n",
		"ca-images-iac/noarm.yaml":     "contents:\n  packages: [x86-tool]\n",
		"ca-images-iac/nodep.yaml":     "contents:\n  packages:\n    - broken\n",
		"ca-images-iac/noversion.yaml": "contents:\n  packages:\n    - openssl=9.9-r0\n",
	})
	before := map[string]*registryv1.Repo{}
	for name, id := range w.repos {
		before[name] = w.emu.Repo(id)
	}
	h, _ := w.checked(vocab.ModeApply)
	ctx := t.Context()

	rep := h.r.RunOnce(ctx, vocab.TriggerStart)
	if rep.Err != nil || rep.Result != vocab.CyclePartial {
		t.Fatalf("first cycle: %v, %s", rep.Err, rep.Result)
	}
	if diff := cmp.Diff([]string{"good"}, written(rep)); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	want := map[string][]string{
		"missing":   {`ca-images-iac/missing.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.example on x86_64 and aarch64 (did you mean mongo-8.0?)`},
		"noarm":     {`ca-images-iac/noarm.yaml:2:14: contents.packages[0]: "x86-tool" is not available to acme.example on aarch64 (it is on x86_64)`},
		"nodep":     {`ca-images-iac/nodep.yaml:3:7: contents.packages[0]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.example (needed by broken-2.0-r0)`},
		"noversion": {`ca-images-iac/noversion.yaml:3:7: contents.packages[0]: "openssl=9.9-r0": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0)`},
	}
	if diff := cmp.Diff(want, problemsOf(rep.Plan)); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
	pc := rep.Plan.PackageCheck
	if pc == nil || pc.Status != vocab.PackageCheckChecked || !cmp.Equal(pc.Refused, []string{"missing", "noarm", "nodep", "noversion"}) || len(pc.Checked) != 5 {
		t.Fatalf("package check report = %+v", pc)
	}
	for name, id := range w.repos {
		if name == "good" {
			continue
		}
		if !proto.Equal(before[name], w.emu.Repo(id)) {
			t.Errorf("refused repo %s was changed", name)
		}
		if n := len(w.emu.BuildReports(id)); n != 0 {
			t.Errorf("refused repo %s has %d builds, want none", name, n)
		}
	}
	if got := w.live("good"); !overlay.Equal(got, overlay.Overlay{Packages: []string{"jq", "curl"}}) {
		t.Errorf("good = %+v", got)
	}
	st := h.r.Status()
	for name, lines := range want {
		rs := repoState(t, st, name)
		if rs.Status != vocab.StatusInvalid || !rs.CheckRefused || rs.Error != strings.Join(lines, "\n") {
			t.Errorf("store %s = %+v", name, rs)
		}
	}
	if st.PackageCheck == nil || st.PackageCheck.Status != vocab.PackageCheckChecked || len(st.PackageCheck.Refused) != 4 || st.PackageCheck.Checked != 5 {
		t.Errorf("store package check = %+v", st.PackageCheck)
	}
	if got := testutil.ToFloat64(h.m.PackageCheck.RefusedRepos); got != 4 {
		t.Errorf("package_check_refused_repos = %v, want 4", got)
	}
	if got := testutil.ToFloat64(h.m.PackageCheck.Refusals); got != 4 {
		t.Errorf("package_check_refusals_total = %v, want 4", got)
	}

	// The next cycle reuses the refusals: no index read, no build listing.
	w.emu.ResetCounts()
	rep = h.r.RunOnce(ctx, vocab.TriggerInterval)
	if diff := cmp.Diff(want, problemsOf(rep.Plan)); diff != "" {
		t.Errorf("second cycle's refusals (-want +got):\n%s", diff)
	}
	if n, b := w.emu.Calls(listAPKs), w.emu.Calls(listBuildReports); n != 0 || b != 0 || len(rep.Writes) != 0 {
		t.Errorf("second cycle: %d ListAPKs, %d ListBuildReports, %d writes; want none", n, b, len(rep.Writes))
	}

	// Fixed files are checked and written; then an idle cycle is one
	// ListRepos and nothing else.
	w.git.commit(map[string]string{
		"ca-images-iac/missing.yaml":   "contents:\n  packages: [jq, mongo-8.0]\n",
		"ca-images-iac/noarm.yaml":     "contents:\n  packages: [jq, curl]\n",
		"ca-images-iac/nodep.yaml":     "contents:\n  packages: [curl]\n",
		"ca-images-iac/noversion.yaml": "contents:\n  packages: [openssl=3.4.0-r0]\n",
	})
	if rep = h.r.RunOnce(ctx, vocab.TriggerInterval); rep.Result != vocab.CycleSuccess || len(rep.Writes) != 4 {
		t.Fatalf("after the fix: %s, %d writes, refusals %v", rep.Result, len(rep.Writes), problemsOf(rep.Plan))
	}
	if got := testutil.ToFloat64(h.m.PackageCheck.RefusedRepos); got != 0 {
		t.Errorf("package_check_refused_repos after the fix = %v, want 0", got)
	}
	h.r.RunOnce(ctx, vocab.TriggerInterval) // the git check after the fix
	w.emu.ResetCounts()
	if rep = h.r.RunOnce(ctx, vocab.TriggerInterval); rep.Result != vocab.CycleSuccess || len(rep.Writes) != 0 {
		t.Fatalf("idle cycle: %s, %d writes", rep.Result, len(rep.Writes))
	}
	if diff := cmp.Diff(map[string]int{listRepos + " OK": 1}, w.emu.Counts()); diff != "" {
		t.Errorf("API calls of an idle cycle with the package check on (-want +got):\n%s", diff)
	}
}

// An identity that may not list packages (an org without a catalog, for
// the emulator) gets one warning naming apk.list; the repos are still
// written, the check is reported as skipped, and nothing is refused.
func TestPackageCheckSkippedWithoutAPKList(t *testing.T) {
	w := newWorld(t)
	w.checkRepos("a", "b")
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [anything]\n"})
	h, logs := w.checked(vocab.ModeApply)
	ctx := t.Context()
	rep := h.r.RunOnce(ctx, vocab.TriggerStart)
	if rep.Result != vocab.CycleSuccess || len(rep.Writes) != 1 {
		t.Fatalf("first cycle: %s, %d writes, %v", rep.Result, len(rep.Writes), problemsOf(rep.Plan))
	}
	w.git.commit(map[string]string{"ca-images-iac/b.yaml": "contents:\n  packages: [whatever]\n"})
	if rep = h.r.RunOnce(ctx, vocab.TriggerInterval); rep.Result != vocab.CycleSuccess || len(rep.Writes) != 1 {
		t.Fatalf("second cycle: %s, %d writes", rep.Result, len(rep.Writes))
	}
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("package check").All()
	if len(warnings) != 1 || warnings[0].ContextMap()["capability"] != "apk.list" {
		t.Errorf("warnings over two checked cycles = %v, want one naming apk.list", warnings)
	}
	if w.emu.Calls(listAPKs) != 1 {
		t.Errorf("%d ListAPKs calls, want 1 (a refusal is remembered for the interval)", w.emu.Calls(listAPKs))
	}
	pc := h.r.Status().PackageCheck
	if pc == nil || pc.Status != vocab.PackageCheckSkipped || pc.Capability != "apk.list" || !strings.Contains(pc.Reason, "apk.list") || len(pc.Refused) != 0 {
		t.Errorf("store package check = %+v", pc)
	}
	if got := testutil.ToFloat64(h.m.PackageCheck.Status.WithLabelValues("skipped")); got != 1 {
		t.Errorf("package_check_status{status=skipped} = %v, want 1", got)
	}
	if rep.Plan.PackageCheck.Status != vocab.PackageCheckSkipped {
		t.Errorf("plan's package check = %+v", rep.Plan.PackageCheck)
	}
}

// A repo to be created (a file plus a source in the settings file) goes
// through the check too: its file's packages are checked alone (its base is
// not known before it exists, which the plan notes), a refused one is not
// created, and an accepted one is.
func TestPackageCheckOfCreates(t *testing.T) {
	w := newWorld(t)
	if err := w.emu.SetCatalogPackages(w.orgID, emutest.Catalog()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.emu.SetSourceImages(w.orgID, "node"); err != nil {
		t.Fatal(err)
	}
	w.git.commit(map[string]string{
		"ca-images-iac/new-good.yaml":       "contents:\n  packages: [jq]\n",
		"ca-images-iac/new-bad.yaml":        "contents:\n  packages: [mongo-9.0]\n",
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  new-good:\n    source: node\n  new-bad:\n    source: node\n",
	})
	h, _ := w.checked(vocab.ModeApply)
	rep := h.r.RunOnce(t.Context(), vocab.TriggerStart)
	if diff := cmp.Diff(map[string][]string{"new-bad": {
		`ca-images-iac/new-bad.yaml:2:14: contents.packages[0]: "mongo-9.0" is not available to acme.example on x86_64 and aarch64 (did you mean mongo-8.0?)`,
	}}, problemsOf(rep.Plan)); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]vocab.Action{"new-good": vocab.ActionCreate, "new-bad": vocab.ActionInvalid}, actions(rep.Plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, c := range rep.Plan.Changes {
		if want := []string{"the base image is not known before the repo exists; the file's packages were checked alone"}; !cmp.Equal(c.CheckNotes, want) {
			t.Errorf("%s's check notes = %q, want %q", c.Repo, c.CheckNotes, want)
		}
	}
	if n := w.emu.Calls(registryv1.Registry_CreateRepo_FullMethodName) + w.emu.Calls(registryv2.ReposService_CreateRepo_FullMethodName); n != 1 {
		t.Errorf("%d creates, want 1 (new-good only)", n)
	}
	if rep.Plan.PackageCheck == nil || !cmp.Equal(rep.Plan.PackageCheck.Checked, []string{"new-bad", "new-good"}) {
		t.Errorf("package check = %+v", rep.Plan.PackageCheck)
	}
}
