package reconciler_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const runAsBob = `ca-images-iac/a.yaml:4:11: warning: accounts.run-as: user "bob" is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it`

func repoState(t *testing.T, st store.Status, name string) store.RepoState {
	t.Helper()
	for _, r := range st.Repos {
		if r.Repo == name {
			return r
		}
	}
	t.Fatalf("no repo %s in the store", name)
	return store.RepoState{}
}

// A file with a warning is applied; the warning is logged once per content
// of the file (not once per cycle), counted, kept in the store for /status
// and the page, and shown by the plan.
func TestWarningsReachTheDaemon(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	w.customRepo("b", overlay.Overlay{})
	w.git.commit(map[string]string{
		"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\naccounts:\n  run-as: bob\n",
		"ca-images-iac/b.yaml": "contents:\n  packages: [jq]\n",
	})
	core, logs := observer.New(zapcore.InfoLevel)
	h := w.reconciler(vocab.ModeApply, zap.New(core), nil)
	ctx := t.Context()

	if rep := h.r.RunOnce(ctx, vocab.TriggerStart); rep.Result != vocab.CycleSuccess || len(rep.Writes) != 2 {
		t.Fatalf("first cycle: %s, %d writes, err %v", rep.Result, len(rep.Writes), rep.Err)
	}
	if got := w.live("a"); !overlay.Equal(got, overlay.Overlay{Packages: []string{"curl"}, Accounts: overlay.Accounts{RunAs: "bob"}}) {
		t.Errorf("a.yaml, which has a warning, was not applied: %+v", got)
	}
	h.r.RunOnce(ctx, vocab.TriggerInterval)
	// A new revision that changes another file: a.yaml's warning is not
	// logged again.
	w.git.commit(map[string]string{"ca-images-iac/b.yaml": "contents:\n  packages: [jq, curl]\n"})
	h.r.RunOnce(ctx, vocab.TriggerInterval)

	var logged [][]string
	for _, e := range logs.FilterMessage("file has warnings; it is applied").All() {
		var got []string
		for _, f := range e.Context {
			if f.Key == "file" || f.Key == "repo" {
				got = append(got, f.Key+"="+f.String)
			}
		}
		if ws, ok := e.ContextMap()["warnings"].([]any); ok {
			for _, w := range ws {
				got = append(got, w.(string))
			}
		}
		logged = append(logged, got)
	}
	if diff := cmp.Diff([][]string{{"repo=a", "file=ca-images-iac/a.yaml", runAsBob}}, logged); diff != "" {
		t.Errorf("warning log lines over three cycles (-want +got):\n%s", diff)
	}
	st := h.r.Status()
	if diff := cmp.Diff([]string{runAsBob}, repoState(t, st, "a").Warnings); diff != "" {
		t.Errorf("a's warnings in the store (-want +got):\n%s", diff)
	}
	if got := repoState(t, st, "b").Warnings; got != nil {
		t.Errorf("b's warnings = %q, want none", got)
	}
	if st.Files != (store.FileCounts{Valid: 2, Warnings: 1}) {
		t.Errorf("file counts = %+v", st.Files)
	}
	if got := testutil.ToFloat64(h.m.FileWarnings); got != 1 {
		t.Errorf("ca_reconciler_file_warnings = %v, want 1", got)
	}

	plan, err := h.r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := plan.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "= a (ca-images-iac/a.yaml): in sync\n    " + runAsBob + "\n= b"; !strings.Contains(text.String(), want) {
		t.Errorf("text plan lacks %q:\n%s", want, text.String())
	}
}

// unknownField is one length-delimited field this SDK does not know.
func unknownField(num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

// A live overlay holding fields this version cannot read is in sync with a
// file that says the rest: the unknown fields are not drift, the plan and
// the store say they are there and kept, and the write log says so too.
func TestUnknownFieldsAreVisibleNotDrift(t *testing.T) {
	w := newWorld(t)
	live := overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl"}})
	live.ProtoReflect().SetUnknown(append(unknownField(900, "guarded_entrypoint"), unknownField(901, "fail_mode: closed")...))
	repo := &registryv1.Repo{Name: "a", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "contents: {}"}, CustomOverlay: live}
	repo.ProtoReflect().SetUnknown(unknownField(950, "tag-scoped"))
	w.repos["a"] = w.emu.CreateRepo(w.orgID, repo).GetId()
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	core, logs := observer.New(zapcore.InfoLevel)
	h := w.reconciler(vocab.ModeApply, zap.New(core), nil)
	ctx := t.Context()

	plan, err := h.r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) != 1 || plan.Changes[0].Action != vocab.ActionNoop || plan.Changes[0].UnknownFields != 2 {
		t.Fatalf("plan = %+v, want a noop holding 2 unknown fields", plan.Changes)
	}
	note := "the live overlay holds 2 field(s) this version does not know; they are kept"
	var text, js bytes.Buffer
	_ = plan.WriteText(&text)
	if want := "= a (ca-images-iac/a.yaml): in sync\n    " + note + "\n"; !strings.Contains(text.String(), want) {
		t.Errorf("text plan lacks %q:\n%s", want, text.String())
	}
	_ = plan.WriteJSON(&js)
	var out struct {
		InSync  bool `json:"in_sync"`
		Changes []struct {
			UnknownFields int      `json:"unknown_fields"`
			Notes         []string `json:"notes"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !out.InSync || len(out.Changes) != 1 || out.Changes[0].UnknownFields != 2 || !cmp.Equal(out.Changes[0].Notes, []string{note}) {
		t.Errorf("JSON plan = %s", js.String())
	}

	if rep := h.r.RunOnce(ctx, vocab.TriggerStart); len(rep.Writes) != 0 || rep.Result != vocab.CycleSuccess {
		t.Fatalf("first cycle: %d writes, %s; want none (in sync)", len(rep.Writes), rep.Result)
	}
	if got := repoState(t, h.r.Status(), "a"); got.Status != vocab.StatusSynced || got.UnknownFields != 2 {
		t.Errorf("store: %+v, want synced with 2 unknown fields", got)
	}

	w.git.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl, jq]\n"})
	if rep := h.r.RunOnce(ctx, vocab.TriggerInterval); len(rep.Writes) != 1 || rep.Result != vocab.CycleSuccess {
		t.Fatalf("second cycle: %d writes, %s", len(rep.Writes), rep.Result)
	}
	after := w.emu.Repo(w.repos["a"])
	if got, want := string(after.GetCustomOverlay().ProtoReflect().GetUnknown()), string(live.ProtoReflect().GetUnknown()); got != want {
		t.Errorf("the overlay's unknown fields after the write = %q, want %q", got, want)
	}
	if got, want := string(after.ProtoReflect().GetUnknown()), string(unknownField(950, "tag-scoped")); got != want {
		t.Errorf("the repo's unknown fields after the write = %q, want %q", got, want)
	}
	if got := after.GetCustomOverlay().GetContents().GetPackages(); !cmp.Equal(got, []string{"curl", "jq"}) {
		t.Errorf("packages after the write = %q", got)
	}
	wrote := logs.FilterMessage("repo written").All()
	if len(wrote) != 1 {
		t.Fatalf("%d write log lines, want 1", len(wrote))
	}
	if m := wrote[0].ContextMap(); m["unknown_fields_kept"] != int64(2) || m["unknown_fields"] != note {
		t.Errorf("write log fields = %v", m)
	}
}
