package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chainguard.dev/sdk/auth"
	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	"chainguard.dev/sdk/proto/platform"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// The acceptance tests of issue 13 run the real binary, built once per test
// process, as separate processes against the emulator and a real Git
// repository: every run is a restart, and most get a new, empty
// --cache-dir.

var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ca-reconciler-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ca-reconciler")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("building the binary: %v", err)
	}
	return bin
}

// exec runs the binary with args (run and plan get the fixture's repo, API,
// org and a new, empty --cache-dir unless args name one), and returns its
// exit code, stdout and stderr.
func (f *fixture) exec(args ...string) (int, string, string) {
	f.t.Helper()
	if args[0] == "run" || args[0] == "plan" {
		args = append(args, "--git-url", f.dir, "--api", f.url, "--org", "acme.example")
		if !contains(args, "--cache-dir") {
			args = append(args, "--cache-dir", f.t.TempDir())
		}
	}
	ctx, cancel := context.WithTimeout(f.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(f.t), args...)
	cmd.Env = append(os.Environ(), "CA_RECONCILER_TOKEN="+apiToken)
	return runCmd(f.t, cmd)
}

// runCmd runs cmd and returns its exit code, stdout and stderr; it fails
// the test when cmd cannot run.
func runCmd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("running %v: %v", cmd.Args[1:], err)
	}
	return 0, stdout.String(), stderr.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writes counts the emulator's overlay writes and creates since the last
// ResetCounts.
func (f *fixture) writes() int {
	return f.emu.Calls(registryv1.Registry_UpdateRepo_FullMethodName) + f.emu.Calls(registryv2.ReposService_UpdateRepo_FullMethodName) +
		f.emu.Calls(registryv1.Registry_CreateRepo_FullMethodName) + f.emu.Calls(registryv2.ReposService_CreateRepo_FullMethodName)
}

// repoByName is the emulator's repo of that name in the org, or nil.
func (f *fixture) repoByName(name string) *registryv1.Repo {
	f.t.Helper()
	c := f.clients()
	list, err := c.Registry().Registry().ListRepos(f.t.Context(), &registryv1.RepoFilter{Name: name})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range list.GetItems() {
		if r.GetName() == name {
			return f.emu.Repo(r.GetId())
		}
	}
	return nil
}

// clients are the SDK's own clients to the emulator, as a person or another
// tool uses the API.
func (f *fixture) clients() platform.Clients {
	f.t.Helper()
	ctx := f.t.Context()
	c, err := platform.NewPlatformClients(ctx, f.url, auth.NewFromToken(ctx, "Bearer "+apiToken, false))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	return c
}

func unknownField(num protowire.Number, s string) protoreflect.RawFields {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

// addUnknownFields gives the repo and its custom_overlay fields this SDK
// does not know (as a newer service holds them), through the API with the
// SDK's client (v1 UpdateRepo of the repo as read; sync_config cannot be
// changed), and returns the repo as the emulator then holds it.
func (f *fixture) addUnknownFields(id string) *registryv1.Repo {
	f.t.Helper()
	r := f.emu.Repo(id)
	r.ProtoReflect().SetUnknown(unknownField(50, "repo-field-of-a-newer-service"))
	if r.CustomOverlay == nil {
		r.CustomOverlay = &registryv1.CustomOverlay{}
	}
	r.CustomOverlay.ProtoReflect().SetUnknown(unknownField(20, "guarded_entrypoint: {fail_mode: closed}"))
	if _, err := f.clients().Registry().Registry().UpdateRepo(f.t.Context(), r); err != nil {
		f.t.Fatal(err)
	}
	got := f.emu.Repo(id)
	if len(got.ProtoReflect().GetUnknown()) == 0 || len(got.GetCustomOverlay().ProtoReflect().GetUnknown()) == 0 {
		f.t.Fatalf("the emulator did not keep the unknown fields: %v", got)
	}
	return got
}

// sameRepo fails unless the emulator holds want for its id, every field
// compared, unknown fields included.
func (f *fixture) sameRepo(what string, want *registryv1.Repo) {
	f.t.Helper()
	if diff := cmp.Diff(want, f.emu.Repo(want.GetId()), protocmp.Transform()); diff != "" {
		f.t.Errorf("%s: the repo changed (-want +got):\n%s", what, diff)
	}
}

// A new file plus a source setting creates the repo with exactly the
// file's overlay and the source; the next cycle writes nothing; without the
// setting the same file is missing; --mode detect only reports the create.
func TestAcceptanceCreateFromSource(t *testing.T) {
	f := newFixture(t)
	nodeIDs, err := f.emu.SetSourceImages(f.orgID, "node")
	if err != nil {
		t.Fatal(err)
	}
	f.repo("web", overlay.Overlay{Packages: []string{"curl"}})
	const customNode = "contents:\n  packages: [curl, jq]\nenvironment:\n  NODE_ENV: production\nannotations:\n  com.example.team: web\n"
	fileOverlay, err := overlay.Parse("custom-node.yaml", []byte(customNode))
	if err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{
		"ca-images-iac/web.yaml":         "contents:\n  packages: [curl]\n",
		"ca-images-iac/custom-node.yaml": customNode,
	})

	// Without the setting: missing, an error, nothing created.
	code, out, _ := f.exec("plan")
	if code != 1 || !strings.Contains(out, "! custom-node (ca-images-iac/custom-node.yaml): missing\n") {
		t.Errorf("plan without a source: exit %d\n%s", code, out)
	}
	f.emu.ResetCounts()
	if code, _, errOut := f.exec("run", "--once"); code != 1 || !strings.Contains(errOut, `repo \"custom-node\" does not exist`) {
		t.Errorf("run --once without a source: exit %d\n%s", code, errOut)
	}
	if f.writes() != 0 || f.repoByName("custom-node") != nil {
		t.Fatalf("created or wrote without a source: %d calls", f.writes())
	}

	// With the setting: plan shows the create, detect only reports it.
	f.commit(map[string]string{"ca-images-iac/.ca-reconciler.yaml": "repos:\n  custom-node:\n    source: node   # the catalog image\n"})
	code, out, _ = f.exec("plan")
	if code != 2 || !strings.Contains(out, "+ custom-node (ca-images-iac/custom-node.yaml): create from source node\n    + package curl\n    + package jq\n") {
		t.Errorf("plan with a source: exit %d\n%s", code, out)
	}
	code, out, _ = f.exec("plan", "-o", "json")
	var plan struct {
		Summary struct{ Create int }
		Changes []struct {
			Repo, Action, Source string
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || code != 2 || plan.Summary.Create != 1 {
		t.Fatalf("plan -o json: exit %d, %v\n%s", code, err, out)
	}
	for _, c := range plan.Changes {
		if c.Repo == "custom-node" && (c.Action != "create" || c.Source != "node") {
			t.Errorf("JSON plan of custom-node: %+v", c)
		}
	}
	f.emu.ResetCounts()
	if code, _, errOut := f.exec("run", "--once", "--mode", "detect"); code != 2 || f.writes() != 0 || f.repoByName("custom-node") != nil {
		t.Fatalf("detect: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}

	// apply: created, exactly the file's overlay and the source.
	code, _, errOut := f.exec("run", "--once")
	if code != 0 || !strings.Contains(errOut, `"msg":"repo created"`) {
		t.Fatalf("apply: exit %d\n%s", code, errOut)
	}
	got := f.repoByName("custom-node")
	if got == nil {
		t.Fatal("not created")
	}
	want := &registryv1.Repo{
		Id:         got.GetId(),
		Name:       "custom-node",
		CreateTime: got.GetCreateTime(),
		ActiveTags: []string{"latest"},
		SyncConfig: &registryv1.SyncConfig{
			Source:      nodeIDs[0],
			ApkoOverlay: "contents: {}",
			Expiration:  got.GetSyncConfig().GetExpiration(),
		},
		CustomOverlay: overlaypb.ToProto(fileOverlay),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("the created repo (-want +got):\n%s", diff)
	}
	if n := len(f.emu.BuildReports(got.GetId())); n != 1 {
		t.Errorf("the created repo has %d builds, want 1 (one per active tag)", n)
	}

	// The next cycles write nothing, and every field of the created repo,
	// fields this SDK does not know included, stays as the emulator holds it.
	held := f.addUnknownFields(got.GetId())
	for _, args := range [][]string{{"run", "--once"}, {"run", "--once", "--prune"}} {
		f.emu.ResetCounts()
		if code, _, errOut := f.exec(args...); code != 0 || f.writes() != 0 {
			t.Errorf("%v after the create: exit %d, %d writes\n%s", args, code, f.writes(), errOut)
		}
		f.sameRepo(strings.Join(args, " "), held)
	}
	if code, out, _ := f.exec("plan"); code != 0 || !strings.Contains(out, "= custom-node (ca-images-iac/custom-node.yaml): in sync") {
		t.Errorf("plan after the create: exit %d\n%s", code, out)
	}
}

// A source the organization may not use, or that does not exist, is an
// error for the file naming the setting's line; nothing is created.
func TestAcceptanceSourceRefused(t *testing.T) {
	f := newFixture(t)
	other := f.emu.CreateOrg("other.example")
	secret := f.emu.CreateRepo(other, &registryv1.Repo{Name: "secret", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
	f.commit(map[string]string{
		"ca-images-iac/a.yaml":              "contents:\n  packages: [curl]\n",
		"ca-images-iac/b.yaml":              "contents:\n  packages: [curl]\n",
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  a:\n    source: nosuch\n  b:\n    source: " + secret.GetId() + "\n",
	})
	code, _, errOut := f.exec("run", "--once")
	for _, want := range []string{
		`ca-images-iac/.ca-reconciler.yaml:3:13: repos.a.source: the organization cannot create repo \"a\" from source \"nosuch\": source repository \"nosuch\" not found`,
		`ca-images-iac/.ca-reconciler.yaml:5:13: repos.b.source: the organization cannot create repo \"b\" from source \"` + secret.GetId() +
			`\": organization \"acme.example\" is not entitled to source repository \"` + secret.GetId() + `\"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the log does not say %s", want)
		}
	}
	if code != 1 || f.repoByName("a") != nil || f.repoByName("b") != nil {
		t.Errorf("exit %d (want 1), created a: %v, b: %v\n%s", code, f.repoByName("a") != nil, f.repoByName("b") != nil, errOut)
	}
}

// A suspended repo edited in the Console stays edited after run --once in
// apply mode, while another repo is written; plan names it drifted and
// suspended; the daemon's /status, page, metrics and log show its drift.
func TestAcceptanceSuspend(t *testing.T) {
	f := newFixture(t)
	f.repo("nginx", overlay.Overlay{Packages: []string{"curl"}})
	f.repo("web", overlay.Overlay{})
	f.commit(map[string]string{
		"ca-images-iac/nginx.yaml":          "contents:\n  packages: [curl]\n",
		"ca-images-iac/web.yaml":            "contents:\n  packages: [jq]\n",
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  nginx:\n    suspend: true\n",
	})
	if err := f.emu.ConsoleEdit(f.repoID("nginx"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "wget"}})); err != nil {
		t.Fatal(err)
	}
	edited := f.addUnknownFields(f.repoID("nginx"))

	code, _, errOut := f.exec("run", "--once")
	if code != 0 {
		t.Errorf("run --once: exit %d (a suspended repo's drift is not a failure)\n%s", code, errOut)
	}
	f.sameRepo("the suspended repo after run --once", edited)
	if !overlay.Equal(overlaypb.FromProto(f.emu.Repo(f.repoID("web")).GetCustomOverlay()), overlay.Overlay{Packages: []string{"jq"}}) {
		t.Errorf("the other repo was not written")
	}
	if !strings.Contains(errOut, `"msg":"drift detected","repo":"nginx","file":"ca-images-iac/nginx.yaml","held":"suspended","diff":["- package wget"]`) {
		t.Errorf("the log does not report the suspended repo's drift:\n%s", errOut)
	}

	code, out, _ := f.exec("plan")
	if code != 0 || !strings.Contains(out, "~ nginx (ca-images-iac/nginx.yaml): suspended, drifted: would update; not written while suspended\n    - package wget\n") {
		t.Errorf("plan: exit %d\n%s", code, out)
	}

	// The daemon: /status, the page and the metrics.
	d := f.startBinary("run", "--interval", "1h")
	var status struct {
		Repos []struct {
			Repo, Status, Held, Would string
			Diff                      []string
			DriftSince                *time.Time `json:"drift_since"`
		}
		Settings struct {
			File      string
			Valid     bool
			Suspended []string
		}
	}
	d.await("nginx suspended in /status", func() bool {
		body, code := get(t, "http://"+d.addr+"/status")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &status) != nil {
			return false
		}
		for _, r := range status.Repos {
			if r.Repo == "nginx" {
				return r.Status == "suspended"
			}
		}
		return false
	})
	for _, r := range status.Repos {
		if r.Repo == "nginx" && (r.Held != "suspended" || r.Would != "update" || !cmp.Equal(r.Diff, []string{"- package wget"}) || r.DriftSince == nil) {
			t.Errorf("/status of nginx: %+v", r)
		}
	}
	if status.Settings.File != "ca-images-iac/.ca-reconciler.yaml" || !status.Settings.Valid || !cmp.Equal(status.Settings.Suspended, []string{"nginx"}) {
		t.Errorf("/status settings: %+v", status.Settings)
	}
	page, _ := get(t, "http://"+d.addr+"/")
	for _, want := range []string{`<span class="badge st-suspended">suspended</span>`, "- package wget", "would update"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	metrics, _ := get(t, "http://"+d.addr+"/metrics")
	for _, want := range []string{
		`ca_reconciler_repo_status{repo="nginx",status="suspended"} 1`,
		`ca_reconciler_held_repos{reason="suspended"} 1`,
		`ca_reconciler_drift_detected_total{repo="nginx"} 1`,
		`ca_reconciler_files{state="settings"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	d.stop()
	f.sameRepo("the suspended repo after the daemon ran", edited)
}

// After a cycle that wrote repo A, deleting A's file and running run --once
// --prune with a new, empty --cache-dir resets A's overlay, keeping every
// other field; a repo customized only through the API is unchanged.
func TestAcceptancePrune(t *testing.T) {
	f := newFixture(t)
	// A repo with every field set, a field of a newer service in its
	// sync_config among them (sync_config is the service's own).
	in := &registryv1.Repo{
		Name: "a", Description: "the a image", Readme: "# a", Bundles: []string{"application"}, Aliases: []string{"a-alias"},
		ActiveTags: []string{"latest", "1.2"}, CatalogTier: registryv1.CatalogTier_APPLICATION,
		SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/a", ApkoOverlay: "contents: {}", UniqueTags: true, GracePeriod: true},
	}
	in.SyncConfig.ProtoReflect().SetUnknown(unknownField(40, "sync-field"))
	f.repos["a"] = f.emu.CreateRepo(f.orgID, in).GetId()
	f.repo("keep", overlay.Overlay{Packages: []string{"curl"}})
	f.repo("console", overlay.Overlay{Packages: []string{"curl"}, Environment: map[string]string{"SET": "in the console"}})
	f.commit(map[string]string{
		"ca-images-iac/a.yaml":    "contents:\n  packages: [curl, jq]\nenvironment:\n  A: \"1\"\n",
		"ca-images-iac/keep.yaml": "contents:\n  packages: [curl]\n",
	})
	if code, _, errOut := f.exec("run", "--once"); code != 0 || !overlay.Equal(overlaypb.FromProto(f.emu.Repo(f.repoID("a")).GetCustomOverlay()),
		overlay.Overlay{Packages: []string{"curl", "jq"}, Environment: map[string]string{"A": "1"}}) {
		t.Fatalf("first cycle: exit %d, a not written\n%s", code, errOut)
	}
	a := f.addUnknownFields(f.repoID("a"))
	console := f.addUnknownFields(f.repoID("console"))
	keep := f.emu.Repo(f.repoID("keep"))

	f.git("rm", "-q", "ca-images-iac/a.yaml")
	f.git("commit", "-q", "-m", "remove a")

	// Without --prune, A is an orphan, left alone.
	f.emu.ResetCounts()
	if code, _, errOut := f.exec("run", "--once"); code != 0 || f.writes() != 0 {
		t.Errorf("without --prune: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	f.sameRepo("a, without --prune", a)
	code, out, _ := f.exec("plan", "--prune")
	if code != 2 || !strings.Contains(out, "- a (ca-images-iac/a.yaml, deleted): prune: reset to the empty overlay\n    - package curl\n    - package jq\n    - environment A: 1\n") ||
		!strings.Contains(out, "? console: orphan") {
		t.Errorf("plan --prune: exit %d\n%s", code, out)
	}

	// With --prune and a new, empty cache: A is reset, nothing else.
	f.emu.ResetCounts()
	code, _, errOut := f.exec("run", "--once", "--prune", "--cache-dir", t.TempDir())
	if code != 0 || f.writes() != 1 || !strings.Contains(errOut, `"msg":"repo pruned: its file is gone; overlay reset to empty","repo":"a"`) {
		t.Fatalf("run --once --prune: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	after := f.emu.Repo(f.repoID("a"))
	if o := overlaypb.FromProto(after.GetCustomOverlay()); !o.IsZero() {
		t.Errorf("a's overlay after the prune: %+v, want empty", o)
	}
	if diff := cmp.Diff(string(a.GetCustomOverlay().ProtoReflect().GetUnknown()), string(after.GetCustomOverlay().ProtoReflect().GetUnknown())); diff != "" {
		t.Errorf("the prune lost the overlay's unknown fields (-want +got):\n%s", diff)
	}
	wantA, gotA := proto.Clone(a).(*registryv1.Repo), proto.Clone(after).(*registryv1.Repo)
	wantA.CustomOverlay, gotA.CustomOverlay = nil, nil
	if diff := cmp.Diff(wantA, gotA, protocmp.Transform()); diff != "" {
		t.Errorf("the prune changed a field besides the overlay (-want +got):\n%s", diff)
	}
	f.sameRepo("console, never named by a file", console)
	f.sameRepo("keep", keep)
	if n := len(f.emu.BuildReports(f.repoID("a"))); n < 2 {
		t.Errorf("a has %d builds: the prune started none", n)
	}

	// The next cycle writes nothing.
	pruned := f.emu.Repo(f.repoID("a"))
	f.emu.ResetCounts()
	if code, _, errOut := f.exec("run", "--once", "--prune"); code != 0 || f.writes() != 0 {
		t.Errorf("the cycle after the prune: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	f.sameRepo("a, pruned", pruned)
	f.sameRepo("console, never named by a file", console)
}

// The guards: deleting every file prunes nothing (the folder holding no
// valid file, or gone altogether), and deleting more files than
// --prune-limit prunes none and exits 1; within the limit they are pruned.
func TestAcceptancePruneGuards(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"ca-images-iac/README.md": "overlays of acme\n"}
	for _, n := range []string{"a", "b", "c", "d"} {
		f.repo(n, overlay.Overlay{})
		files["ca-images-iac/"+n+".yaml"] = "contents:\n  packages: [curl]\n"
	}
	f.commit(files)
	if code, _, errOut := f.exec("run", "--once"); code != 0 {
		t.Fatalf("first cycle: exit %d\n%s", code, errOut)
	}
	before := map[string]*registryv1.Repo{}
	for _, n := range []string{"a", "b", "c", "d"} {
		before[n] = f.emu.Repo(f.repoID(n))
	}
	unchanged := func(what string) {
		t.Helper()
		for _, r := range before {
			f.sameRepo(what, r)
		}
	}

	// More files deleted than the limit: none pruned, exit 1, why in the log.
	f.git("rm", "-q", "ca-images-iac/a.yaml", "ca-images-iac/b.yaml", "ca-images-iac/c.yaml")
	f.git("commit", "-q", "-m", "remove three")
	f.emu.ResetCounts()
	code, _, errOut := f.exec("run", "--once", "--prune", "--prune-limit", "2")
	if code != 1 || f.writes() != 0 || !strings.Contains(errOut, `"msg":"pruning refused","held":"prune_limit","reason":"3 repos would be pruned, more than --prune-limit 2: none is pruned","repos":["a","b","c"]`) {
		t.Errorf("over the limit: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	unchanged("over the limit")
	code, out, _ := f.exec("plan", "--prune", "--prune-limit", "2")
	if code != 1 || !strings.Contains(out, "! pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned\n") {
		t.Errorf("plan over the limit: exit %d\n%s", code, out)
	}

	// Every file deleted, the README left: no valid file, nothing pruned.
	f.git("rm", "-q", "ca-images-iac/d.yaml")
	f.git("commit", "-q", "-m", "remove the last")
	f.emu.ResetCounts()
	code, _, errOut = f.exec("run", "--once", "--prune", "--prune-limit", "10")
	if code != 1 || f.writes() != 0 || !strings.Contains(errOut, `"held":"no_files"`) {
		t.Errorf("no valid file: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	unchanged("no valid file")

	// The folder gone altogether: Git is unreadable for the cycle, nothing
	// is written.
	f.git("rm", "-q", "ca-images-iac/README.md")
	f.git("commit", "-q", "-m", "remove the folder")
	f.emu.ResetCounts()
	code, _, errOut = f.exec("run", "--once", "--prune", "--prune-limit", "10")
	if code != 1 || f.writes() != 0 || !strings.Contains(errOut, "path not found in commit") {
		t.Errorf("no folder: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	unchanged("no folder")

	// Back to three deleted files, within the limit: all three pruned.
	f.commit(map[string]string{"ca-images-iac/d.yaml": "contents:\n  packages: [curl]\n"})
	f.emu.ResetCounts()
	if code, _, errOut := f.exec("run", "--once", "--prune", "--prune-limit", "3"); code != 0 || f.writes() != 3 {
		t.Errorf("within the limit: exit %d, %d writes\n%s", code, f.writes(), errOut)
	}
	for _, n := range []string{"a", "b", "c"} {
		if o := overlaypb.FromProto(f.emu.Repo(f.repoID(n)).GetCustomOverlay()); !o.IsZero() {
			t.Errorf("%s not pruned: %+v", n, o)
		}
	}
	f.sameRepo("d, whose file is back", before["d"])
}

// An invalid settings file: nothing is written, created or pruned, drift is
// still reported, run --once exits 1.
func TestAcceptanceSettingsInvalid(t *testing.T) {
	f := newFixture(t)
	f.repo("web", overlay.Overlay{})
	f.commit(map[string]string{
		"ca-images-iac/web.yaml":            "contents:\n  packages: [curl]\n",
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  web:\n    suspended: true\n",
	})
	f.emu.ResetCounts()
	code, _, errOut := f.exec("run", "--once")
	if code != 1 || f.writes() != 0 {
		t.Errorf("exit %d, %d writes, want 1 and none\n%s", code, f.writes(), errOut)
	}
	for _, want := range []string{
		`"msg":"settings file invalid: nothing is written, created or pruned until it is fixed","file":"ca-images-iac/.ca-reconciler.yaml","errors":["ca-images-iac/.ca-reconciler.yaml:3:5: repos.web.suspended: unknown key; did you mean suspend?"]`,
		`"msg":"drift detected","repo":"web"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the log lacks %s\n%s", want, errOut)
		}
	}
	code, out, _ := f.exec("plan")
	if code != 1 || !strings.Contains(out, "~ web (ca-images-iac/web.yaml): update\n    ! ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed\n    + package curl\n") {
		t.Errorf("plan: exit %d\n%s", code, out)
	}
}

// binaryDaemon is the binary running as a daemon, serving on addr.
type binaryDaemon struct {
	t      *testing.T
	addr   string
	cmd    *exec.Cmd
	cancel context.CancelFunc // stops it: SIGTERM, a kill 20s later
	stderr *testenv.SyncBuffer
	done   chan struct{}
}

// startBinary runs the binary with args, the fixture's flags and --listen
// on a free loopback port, and waits until /healthz answers.
func (f *fixture) startBinary(args ...string) *binaryDaemon {
	f.t.Helper()
	for attempt := 1; ; attempt++ {
		d := &binaryDaemon{t: f.t, addr: freeAddr(f.t), stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
		full := append(append([]string{}, args...), "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", f.t.TempDir(), "--listen", d.addr)
		ctx, cancel := context.WithCancel(context.Background())
		d.cmd, d.cancel = exec.CommandContext(ctx, binary(f.t), full...), cancel
		d.cmd.Cancel = func() error { return d.cmd.Process.Signal(syscall.SIGTERM) }
		d.cmd.WaitDelay = 20 * time.Second
		d.cmd.Env = append(os.Environ(), "CA_RECONCILER_TOKEN="+apiToken)
		d.cmd.Stderr = d.stderr
		if err := d.cmd.Start(); err != nil {
			f.t.Fatal(err)
		}
		go func() { _ = d.cmd.Wait(); close(d.done) }()
		f.t.Cleanup(d.stop)
		ok := false
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(20 * time.Millisecond) {
			select {
			case <-d.done:
				deadline = time.Time{}
			default:
				_, code := get(f.t, "http://"+d.addr+"/healthz")
				ok = code == http.StatusOK
			}
		}
		if ok {
			return d
		}
		d.stop()
		if attempt < 5 && strings.Contains(d.stderr.String(), "address already in use") {
			continue
		}
		f.t.Fatalf("the daemon is not serving:\n%s", d.stderr.String())
	}
}

// await polls cond every 50ms for at most 30s.
func (d *binaryDaemon) await(what string, cond func() bool) {
	d.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	d.t.Fatalf("timed out waiting for %s\n%s", what, d.stderr.String())
}

// stop ends the daemon this test started (SIGTERM to its pid) and waits.
func (d *binaryDaemon) stop() {
	d.cancel()
	<-d.done
}
