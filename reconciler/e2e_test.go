package reconciler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const (
	fileA   = "contents:\n  packages: [curl, jq]\nenvironment:\n  LOG_LEVEL: info\n"
	fileB   = "environment:\n  APP_ENV: production\n"
	fileC   = "annotations:\n  com.example.team: web\n"
	fileBad = "environment:\n  CHAINGUARD_MODE: x\n"
)

func written(rep reconciler.Report) []string {
	var out []string
	for repo := range rep.Writes {
		out = append(out, repo)
	}
	sort.Strings(out)
	return out
}

func actions(p reconciler.Plan) map[string]vocab.Action {
	out := map[string]vocab.Action{}
	for _, c := range p.Changes {
		out[c.Repo] = c.Action
	}
	return out
}

func (w *world) updateCalls() int {
	n := 0
	for k, v := range w.emu.Counts() {
		if strings.Contains(k, "UpdateRepo") {
			n += v
		}
	}
	return n
}

// consoleEdit changes a repo's overlay through the SDK's own client, the way
// the Console or chainctl would.
func (w *world) consoleEdit(name string, o overlay.Overlay) {
	w.t.Helper()
	ctx := w.t.Context()
	if _, err := w.client.WriteOverlay(ctx, w.repos[name], o); err != nil {
		w.t.Fatalf("console edit of %s: %v", name, err)
	}
}

func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})                                       // drifted: file adds packages
	w.customRepo("b", mustParse(t, fileB))                                     // in sync
	w.customRepo("c", mustParse(t, "annotations:\n  com.example.team: old\n")) // drifted
	w.customRepo("bad", overlay.Overlay{Packages: []string{"keep"}})           // invalid file: never written
	w.customRepo("d", overlay.Overlay{Packages: []string{"orphaned"}})         // no file: orphan
	w.customRepo("e", overlay.Overlay{})                                       // no file, no overlay: not reported
	w.git.commit(map[string]string{
		"ca-images-iac/a.yaml":     fileA,
		"ca-images-iac/b.yaml":     fileB,
		"ca-images-iac/c.yml":      fileC,
		"ca-images-iac/bad.yaml":   fileBad,
		"ca-images-iac/ghost.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/README.md":  "not an overlay",
		"other/x.yaml":             "ignored: outside the folder",
	})
	h := w.reconciler(vocab.ModeApply, nil, nil)
	ctx := t.Context()

	// First cycle: writes exactly the drifted repos, which then equal their files.
	rep := h.r.RunOnce(ctx, "start")
	if rep.Err != nil {
		t.Fatalf("first cycle: %v", rep.Err)
	}
	if diff := cmp.Diff([]string{"a", "c"}, written(rep)); diff != "" {
		t.Errorf("first cycle wrote (-want +got):\n%s", diff)
	}
	wantActions := map[string]vocab.Action{
		"a": vocab.ActionUpdate, "b": vocab.ActionNoop, "c": vocab.ActionUpdate,
		"bad": vocab.ActionInvalid, "ghost": vocab.ActionMissing, "d": vocab.ActionOrphan,
	}
	if diff := cmp.Diff(wantActions, actions(rep.Plan)); diff != "" {
		t.Errorf("first plan (-want +got):\n%s", diff)
	}
	if rep.Result != "partial" {
		t.Errorf("result = %q, want partial (one invalid, one missing)", rep.Result)
	}
	for name, src := range map[string]string{"a": fileA, "b": fileB, "c": fileC} {
		if !overlay.Equal(w.live(name), mustParse(t, src)) {
			t.Errorf("repo %s after first cycle = %+v, want its file", name, w.live(name))
		}
	}
	if got := w.live("bad"); !cmp.Equal(got.Packages, []string{"keep"}) {
		t.Errorf("invalid file's repo was touched: %+v", got)
	}
	if got := w.live("d"); !cmp.Equal(got.Packages, []string{"orphaned"}) {
		t.Errorf("orphan repo was touched: %+v", got)
	}
	// The invalid file and the missing repo are reported with file, line and reason.
	st := h.r.Status()
	byRepo := map[string]store.RepoState{}
	for _, s := range st.Repos {
		byRepo[s.Repo] = s
	}
	if got, want := byRepo["bad"].Error, `ca-images-iac/bad.yaml:2:3: environment.CHAINGUARD_MODE:`; !strings.HasPrefix(got, want) {
		t.Errorf("bad.yaml error = %q, want prefix %q", got, want)
	}
	if got := byRepo["ghost"].Error; !strings.Contains(got, "ca-images-iac/ghost.yaml") || !strings.Contains(got, `repo "ghost" does not exist`) {
		t.Errorf("ghost.yaml error = %q", got)
	}
	if st.Files != (store.FileCounts{Valid: 4, Invalid: 1, Ignored: 1}) {
		t.Errorf("files = %+v, want 4 valid, 1 invalid, 1 ignored", st.Files)
	}

	// Second cycle: nothing to write.
	before := w.updateCalls()
	rep = h.r.RunOnce(ctx, "interval")
	if len(rep.Writes) != 0 || w.updateCalls() != before {
		t.Errorf("second cycle wrote %v (%d UpdateRepo calls)", written(rep), w.updateCalls()-before)
	}

	// A Console edit is drift: plan names it, detect leaves it, apply puts it back.
	edited := mustParse(t, "environment:\n  APP_ENV: staging\n")
	w.consoleEdit("b", edited)
	plan, err := h.r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(plan)["b"]; got != vocab.ActionUpdate {
		t.Errorf("plan after console edit: b = %q, want update", got)
	}
	for _, c := range plan.Changes {
		if c.Repo == "b" {
			if diff := cmp.Diff([]string{"~ environment APP_ENV: staging -> production"}, diffLines(c.Diff)); diff != "" {
				t.Errorf("diff of b (-want +got):\n%s", diff)
			}
		} else if c.Drifted() {
			t.Errorf("plan after console edit also drifts %s", c.Repo)
		}
	}
	detect := w.reconciler(vocab.ModeDetect, nil, nil)
	before = w.updateCalls()
	rep = detect.r.RunOnce(ctx, "start")
	if len(rep.Writes) != 0 || w.updateCalls() != before {
		t.Errorf("detect mode wrote %v", written(rep))
	}
	if !overlay.Equal(w.live("b"), edited) {
		t.Errorf("detect mode changed b")
	}
	before = w.updateCalls()
	rep = h.r.RunOnce(ctx, "interval")
	if diff := cmp.Diff([]string{"b"}, written(rep)); diff != "" {
		t.Errorf("apply after console edit wrote (-want +got):\n%s", diff)
	}
	if w.updateCalls()-before != 1 {
		t.Errorf("apply after console edit made %d UpdateRepo calls, want 1", w.updateCalls()-before)
	}
	if !overlay.Equal(w.live("b"), mustParse(t, fileB)) {
		t.Errorf("b not put back: %+v", w.live("b"))
	}

	// A commit changing one file writes only that repo.
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	rep = h.r.RunOnce(ctx, "webhook")
	if diff := cmp.Diff([]string{"a"}, written(rep)); diff != "" {
		t.Errorf("after changing a.yaml wrote (-want +got):\n%s", diff)
	}

	// Deleting a file leaves the repo's overlay untouched and reports it as orphan.
	w.git.commit(map[string]string{"-ca-images-iac/c.yml": ""})
	rep = h.r.RunOnce(ctx, "interval")
	if len(rep.Writes) != 0 {
		t.Errorf("after deleting c.yml wrote %v", written(rep))
	}
	if got := actions(rep.Plan)["c"]; got != vocab.ActionOrphan {
		t.Errorf("c after its file was deleted = %q, want orphan", got)
	}
	if !overlay.Equal(w.live("c"), mustParse(t, fileC)) {
		t.Errorf("c changed after its file was deleted")
	}
}

func diffLines(d []overlay.Change) []string {
	out := make([]string, len(d))
	for i, c := range d {
		out[i] = c.String()
	}
	return out
}

// A write keeps every non-overlay field of the repo exactly.
func TestWriteKeepsEveryOtherField(t *testing.T) {
	w := newWorld(t)
	id := w.customRepo("a", overlay.Overlay{Environment: map[string]string{"OLD": "1"}})
	before := proto.Clone(w.emu.Repo(id)).(*registryv1.Repo)
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	h := w.reconciler(vocab.ModeApply, nil, nil)
	if rep := h.r.RunOnce(t.Context(), "start"); rep.Err != nil || len(rep.Writes) != 1 {
		t.Fatalf("cycle: err=%v writes=%v", rep.Err, written(rep))
	}
	after := w.emu.Repo(id)
	if diff := cmp.Diff(before, after, protocmp.Transform(), protocmp.IgnoreFields(&registryv1.Repo{}, "custom_overlay")); diff != "" {
		t.Errorf("write changed fields other than custom_overlay (-before +after):\n%s", diff)
	}
	if !overlay.Equal(overlaypb.FromProto(after.GetCustomOverlay()), mustParse(t, fileA)) {
		t.Errorf("overlay not written")
	}
}

// A write that stays unavailable is tried 1 + Retries times in a cycle; the
// log says of each attempt but the last that it will be retried, and of the
// last that the retries are used up until the next cycle.
func TestRetriesUsedUpAreLogged(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	core, logs := observer.New(zapcore.InfoLevel)
	h := w.reconciler(vocab.ModeApply, zap.New(core), nil)
	w.emu.InjectFault(registryv2.ReposService_UpdateRepo_FullMethodName, codes.Unavailable, -1)
	rep := h.r.RunOnce(t.Context(), "start")
	if res := rep.Writes["a"]; res.Err == nil || res.Attempts != 4 || !res.Transient {
		t.Fatalf("write = %+v, want a transient failure after 4 attempts", res)
	}
	var got []string
	for _, e := range logs.FilterField(zap.String("repo", "a")).All() {
		if strings.HasPrefix(e.Message, "write failed,") {
			got = append(got, fmt.Sprint(e.ContextMap()["attempt"], " ", e.Message))
		}
	}
	want := []string{"1 write failed, will retry", "2 write failed, will retry", "3 write failed, will retry",
		"4 write failed, retries used up; trying again next cycle"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retry log (-want +got):\n%s", diff)
	}
	if n := w.emu.Calls(registryv2.ReposService_UpdateRepo_FullMethodName); n != 4 {
		t.Errorf("UpdateRepo calls = %d, want 4", n)
	}
}

// Transient API errors are retried within the cycle; a permanent one fails
// that repo only.
func TestTransientAndPermanentWriteErrors(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	h := w.reconciler(vocab.ModeApply, nil, nil)
	w.emu.InjectFault(registryv2.ReposService_UpdateRepo_FullMethodName, codes.Unavailable, 2)
	rep := h.r.RunOnce(t.Context(), "start")
	if res, ok := rep.Writes["a"]; !ok || res.Err != nil || !res.Converged {
		t.Fatalf("write after two Unavailable = %+v, want success", res)
	}
	if rep.Result != "success" {
		t.Errorf("result = %q, want success", rep.Result)
	}

	w.customRepo("b", overlay.Overlay{})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileB, "ca-images-iac/b.yaml": fileC})
	w.emu.InjectFault(registryv2.ReposService_UpdateRepo_FullMethodName, codes.PermissionDenied, 1)
	rep = h.r.RunOnce(t.Context(), "interval")
	failed := 0
	for repo, res := range rep.Writes {
		if res.Err != nil {
			failed++
			if chainguard.Code(res.Err) != codes.PermissionDenied {
				t.Errorf("%s failed with %v, want PermissionDenied", repo, res.Err)
			}
		}
	}
	if failed != 1 || len(rep.Writes) != 2 {
		t.Errorf("writes = %+v, want one failed and one written", rep.Writes)
	}
	if rep.Result != "partial" {
		t.Errorf("result = %q, want partial", rep.Result)
	}
}

// Nothing is written when Git cannot be read.
func TestNoWritesWhenGitUnreadable(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	h := w.reconciler(vocab.ModeApply, nil, nil)
	w.git.git("update-ref", "-d", "refs/heads/main") // the branch disappears
	before := w.updateCalls()
	rep := h.r.RunOnce(t.Context(), "start")
	if rep.Err == nil || rep.Result != "error" {
		t.Fatalf("cycle on unreadable Git: err=%v result=%s, want an error", rep.Err, rep.Result)
	}
	if w.updateCalls() != before {
		t.Errorf("wrote although Git could not be read")
	}
}

// fightingRegistry is the real client, plus a Console user who reverts every
// write straight away: the repo never converges.
type fightingRegistry struct {
	*chainguard.Client
	w *world
}

func (f fightingRegistry) WriteOverlay(ctx context.Context, id string, o overlay.Overlay) (chainguard.Repo, error) {
	repo, err := f.Client.WriteOverlay(ctx, id, o)
	if err == nil {
		_, err = f.Client.WriteOverlay(ctx, id, overlay.Overlay{Packages: []string{"reverted"}})
	}
	return repo, err
}

func TestNonConvergingRepoStalls(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	h := w.reconciler(vocab.ModeApply, nil, fightingRegistry{Client: w.client, w: w})
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		if rep := h.r.RunOnce(ctx, "interval"); len(rep.Writes) != 1 {
			t.Fatalf("cycle %d wrote %v, want a", i, written(rep))
		}
	}
	rep := h.r.RunOnce(ctx, "interval")
	if len(rep.Writes) != 0 {
		t.Errorf("fourth cycle wrote %v; a stalled repo must not be written", written(rep))
	}
	if st := stateOf(h.r, "a"); st.Status != vocab.StatusStalled {
		t.Errorf("status = %q, want stalled", st.Status)
	}
	// A new file content un-stalls it.
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileB})
	if rep := h.r.RunOnce(ctx, "interval"); len(rep.Writes) != 1 {
		t.Errorf("after the file changed wrote %v, want a", written(rep))
	}
}

func stateOf(r *reconciler.Reconciler, repo string) store.RepoState {
	for _, s := range r.Status().Repos {
		if s.Repo == repo {
			return s
		}
	}
	return store.RepoState{}
}

// A cycle's events reach an added sink in order, and the reconciler writes
// the store it is given: the one the build watcher and the page read.
func TestEventsReachSinksAndTheSharedStore(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.customRepo("b", mustParse(t, fileB))
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA, "ca-images-iac/b.yaml": fileB})
	var got []string
	sink := reconciler.SinkFunc(func(e reconciler.Event) { got = append(got, e.Repo+" "+string(e.Kind)) })
	s := store.New()
	r := reconciler.New(reconciler.Config{Org: "acme.example", Dir: "ca-images-iac", RetryInitial: time.Millisecond},
		w.source(), w.client, zaptest.NewLogger(t), metrics.New(prometheus.NewRegistry(), "test"),
		reconciler.WithStore(s), reconciler.WithSink(sink))
	ctx := t.Context()
	r.RunOnce(ctx, vocab.TriggerStart)
	if diff := cmp.Diff([]string{"a drift_detected", "a written", "a status_changed", "b status_changed"}, got); diff != "" {
		t.Errorf("first cycle's events (-want +got):\n%s", diff)
	}
	got = nil
	r.RunOnce(ctx, vocab.TriggerInterval)
	if len(got) != 0 {
		t.Errorf("an idle cycle emitted %v", got)
	}
	w.consoleEdit("b", overlay.Overlay{Packages: []string{"console"}})
	r.RunOnce(ctx, vocab.TriggerInterval)
	if diff := cmp.Diff([]string{"b drift_detected", "b written"}, got); diff != "" {
		t.Errorf("events after a Console edit (-want +got):\n%s", diff)
	}
	st, ok := s.Repo("a")
	if !ok || st.Status != vocab.StatusSynced || st.RepoID != w.repos["a"] || st.LastWrite == nil {
		t.Errorf("store's a = %+v", st)
	}
	if name, ok := s.RepoName(w.repos["b"]); !ok || name != "b" {
		t.Errorf("store does not know b's id")
	}
	if diff := cmp.Diff(s.Status(), r.Status()); diff != "" {
		t.Errorf("the reconciler's status is not the store's (-store +reconciler):\n%s", diff)
	}
	// The file removed and the repo holding an overlay: orphan; then
	// cleared by hand: gone from the store.
	w.git.commit(map[string]string{"-ca-images-iac/b.yaml": ""})
	got = nil
	r.RunOnce(ctx, vocab.TriggerInterval)
	w.consoleEdit("b", overlay.Overlay{})
	r.RunOnce(ctx, vocab.TriggerInterval)
	if diff := cmp.Diff([]string{"b status_changed", "b repo_gone"}, got); diff != "" {
		t.Errorf("events after b's file was removed (-want +got):\n%s", diff)
	}
	if _, ok := s.Repo("b"); ok {
		t.Errorf("b still in the store")
	}
}

// Symbolic links and submodules under the folder are never read, and are
// counted and reported as ignored with their reason: in the store (/status),
// the metric and the log.
func TestLinksAndSubmodulesAreIgnoredWithAReason(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.customRepo("link", overlay.Overlay{Packages: []string{"keep"}})
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	if err := os.Symlink("a.yaml", filepath.Join(w.git.dir, "ca-images-iac", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	w.git.git("add", "ca-images-iac/link.yaml")
	head := w.git.git("rev-parse", "HEAD")
	w.git.git("update-index", "--add", "--cacheinfo", "160000,"+head+",ca-images-iac/vendored")
	w.git.commit(nil)

	core, logs := observer.New(zapcore.InfoLevel)
	h := w.reconciler(vocab.ModeApply, zap.New(core), nil)
	rep := h.r.RunOnce(t.Context(), vocab.TriggerStart)
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	st := h.r.Status()
	want := []store.IgnoredFile{
		{Path: "ca-images-iac/link.yaml", Reason: vocab.IgnoredSymlink},
		{Path: "ca-images-iac/vendored", Reason: vocab.IgnoredSubmodule},
	}
	if diff := cmp.Diff(want, st.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	if st.Files != (store.FileCounts{Valid: 1, Ignored: 2}) {
		t.Errorf("files = %+v", st.Files)
	}
	for reason, want := range map[vocab.IgnoreReason]float64{vocab.IgnoredSymlink: 1, vocab.IgnoredSubmodule: 1, vocab.IgnoredNested: 0} {
		if got := testutil.ToFloat64(h.m.IgnoredFiles.WithLabelValues(string(reason))); got != want {
			t.Errorf("ignored_files{%s} = %v, want %v", reason, got, want)
		}
	}
	var logged []string
	for _, e := range logs.FilterMessage("file ignored").All() {
		logged = append(logged, fmt.Sprint(e.ContextMap()["file"], " ", e.ContextMap()["reason"]))
	}
	if diff := cmp.Diff([]string{"ca-images-iac/link.yaml symlink", "ca-images-iac/vendored submodule"}, logged); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
	// The link's target is never applied to a repo named by the link.
	if got := w.live("link"); !cmp.Equal(got.Packages, []string{"keep"}) {
		t.Errorf("repo link was written through the symbolic link: %+v", got)
	}
}
