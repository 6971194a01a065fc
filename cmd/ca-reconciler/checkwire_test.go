package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// The acceptance tests of issues 12 (the package check) and 9 (fidelity to
// a newer service) run the real binary (built once per test process, see
// lifecycle_test.go) as separate processes against the emulator over
// loopback and a real Git repository.

// awaitBuild waits for the repo to have more than before build reports,
// the last one finished, and returns it.
func (f *fixture) awaitBuild(repo string, before int) *registryv1.BuildReport {
	f.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		reports := f.emu.BuildReports(f.repoID(repo))
		if len(reports) > before && reports[len(reports)-1].GetResult() != registryv1.BuildReport_Unknown {
			return reports[len(reports)-1]
		}
	}
	f.t.Fatalf("no finished build of %s after %d", repo, before)
	return nil
}

// writeThroughAPI sets the repo's overlay with the SDK's own client (v1
// UpdateRepo of the repo as read), as chainctl or the Console would,
// without any check.
func (f *fixture) writeThroughAPI(repo string, o overlay.Overlay) {
	f.t.Helper()
	r := f.emu.Repo(f.repoID(repo))
	r.CustomOverlay = overlaypb.ToProto(o)
	if _, err := f.clients().Registry().Registry().UpdateRepo(f.t.Context(), r); err != nil {
		f.t.Fatalf("writing %s through the API: %v", repo, err)
	}
}

// Issue 12, through the real binary: in one commit, a file adding a
// package the org's index lacks, one adding a package missing on aarch64,
// one whose package depends on something absent and one naming a version
// that does not exist are each refused with file:line, package and
// architecture by plan (exit 1) and by run (exit 1), are not written (the
// repo reads back unchanged and no build starts), while the other files of
// the commit are written and build; the same four overlays written
// directly through the API make the emulator's builds fail, with the
// reason in the build log.
func TestAcceptancePackageCheckRefusesWhatCannotBuild(t *testing.T) {
	f := newFixture(t)
	// The organization's package index, what ListAPKs lists and the
	// emulator's builds can install: an older openssl besides 3.4.0-r0.
	if err := f.emu.SetCatalogPackages(f.orgID, emutest.Catalog(emulator.Package{Name: "openssl", Version: "3.3.2-r0"})); err != nil {
		t.Fatal(err)
	}
	names := []string{"good", "also-good", "missing", "noarm", "nodep", "noversion"}
	files := map[string]string{}
	for _, name := range names {
		id := f.repo(name, overlay.Overlay{})
		if err := f.emu.SetBaseImage(id, []string{"glibc", "busybox"}); err != nil {
			t.Fatal(err)
		}
		files["ca-images-iac/"+name+".yaml"] = "contents:\n  packages: [jq]\n"
	}
	// A first revision every repo builds, so that the check knows each
	// repo's base image from its last successful build.
	f.commit(files)
	if code, _, errOut := f.exec("run", "--once"); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, errOut)
	}
	for _, name := range names {
		if b := f.awaitBuild(name, 0); b.GetResult() != registryv1.BuildReport_Success {
			t.Fatalf("first build of %s: %v\n%s", name, b.GetResult(), b.GetLog())
		}
	}

	refused := map[string]string{
		"ca-images-iac/missing.yaml":   "contents:\n  packages:\n    - jq\n    - mongo-9.0\n",
		"ca-images-iac/noarm.yaml":     "contents:\n  packages:\n    - jq\n    - x86-tool\n",
		"ca-images-iac/nodep.yaml":     "contents:\n  packages:\n    - broken\n",
		"ca-images-iac/noversion.yaml": "contents:\n  packages:\n    - openssl=9.9-r0\n",
	}
	commit := map[string]string{
		"ca-images-iac/good.yaml":      "contents:\n  packages: [jq, curl]\n",
		"ca-images-iac/also-good.yaml": "contents:\n  packages: [jq, mongo-8.0, openssl=3.4.0-r0]\n",
	}
	for k, v := range refused {
		commit[k] = v
	}
	f.commit(commit)
	wantRefusals := []string{
		`ca-images-iac/missing.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.example on x86_64 and aarch64 (did you mean mongo-8.0?)`,
		`ca-images-iac/noarm.yaml:4:7: contents.packages[1]: "x86-tool" is not available to acme.example on aarch64 (it is on x86_64)`,
		`ca-images-iac/nodep.yaml:3:7: contents.packages[0]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.example (needed by broken-2.0-r0)`,
		`ca-images-iac/noversion.yaml:3:7: contents.packages[0]: "openssl=9.9-r0": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0, 3.3.2-r0)`,
	}

	// plan: the same messages, exit 1.
	code, out, errOut := f.exec("plan")
	if code != 1 {
		t.Errorf("plan: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, line := range wantRefusals {
		if !strings.Contains(out, "\n    "+line+"\n") {
			t.Errorf("plan lacks %q:\n%s", line, out)
		}
	}
	for _, want := range []string{
		"! missing (ca-images-iac/missing.yaml): invalid\n", "~ good (ca-images-iac/good.yaml): update\n    + package curl\n",
		"~ also-good (ca-images-iac/also-good.yaml): update\n",
		"\nPackage check: 6 repos checked against the organization's package index, 4 refused.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "checked alone") {
		t.Errorf("the check did not take the base images from the builds:\n%s", out)
	}
	code, out, _ = f.exec("plan", "-o", "json")
	var js struct {
		PackageCheck struct {
			Status  string   `json:"status"`
			Refused []string `json:"refused"`
		} `json:"package_check"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || code != 1 || js.PackageCheck.Status != "checked" ||
		!cmp.Equal(js.PackageCheck.Refused, []string{"missing", "noarm", "nodep", "noversion"}) {
		t.Errorf("plan -o json: exit %d, %v, package_check %+v", code, err, js.PackageCheck)
	}

	// run: the refused repos are not written and build nothing; the others
	// are written and build.
	before := map[string]*registryv1.Repo{}
	builds := map[string]int{}
	for _, name := range names {
		before[name] = f.emu.Repo(f.repoID(name))
		builds[name] = len(f.emu.BuildReports(f.repoID(name)))
	}
	code, _, errOut = f.exec("run", "--once")
	if code != 1 {
		t.Errorf("run --once: exit %d, want 1 (refused files)\n%s", code, errOut)
	}
	for _, line := range wantRefusals {
		if !strings.Contains(errOut, strings.ReplaceAll(line, `"`, `\"`)) {
			t.Errorf("the log lacks %q", line)
		}
	}
	for _, name := range []string{"good", "also-good"} {
		if b := f.awaitBuild(name, builds[name]); b.GetResult() != registryv1.BuildReport_Success {
			t.Errorf("%s, accepted by the check, did not build: %v\n%s", name, b.GetResult(), b.GetLog())
		}
	}
	if got := overlaypb.FromProto(f.emu.Repo(f.repoID("also-good")).GetCustomOverlay()); !overlay.Equal(got, overlay.Overlay{Packages: []string{"jq", "mongo-8.0", "openssl=3.4.0-r0"}}) {
		t.Errorf("also-good = %+v", got)
	}
	// A write starts its builds at once (a pending report): a repo with no
	// new report was not written.
	for _, name := range []string{"missing", "noarm", "nodep", "noversion"} {
		if !proto.Equal(before[name], f.emu.Repo(f.repoID(name))) {
			t.Errorf("refused repo %s was changed", name)
		}
		if n := len(f.emu.BuildReports(f.repoID(name))); n != builds[name] {
			t.Errorf("refused repo %s has %d builds, want %d (none started)", name, n, builds[name])
		}
	}

	// The same four overlays written directly: each build fails, and the
	// log's last lines say why in apk's words.
	for file, reason := range map[string]string{
		"ca-images-iac/missing.yaml":   "mongo-9.0 (no such package)",
		"ca-images-iac/noarm.yaml":     "x86-tool (no such package)",
		"ca-images-iac/nodep.yaml":     "libnope (no such package)",
		"ca-images-iac/noversion.yaml": "breaks: world[openssl=9.9-r0]",
	} {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		o, err := overlay.Parse(file, []byte(refused[file]))
		if err != nil {
			t.Fatal(err)
		}
		n := len(f.emu.BuildReports(f.repoID(name)))
		f.writeThroughAPI(name, o)
		b := f.awaitBuild(name, n)
		lines := strings.Split(strings.TrimSpace(b.GetLog()), "\n")
		tail := strings.Join(lines[max(0, len(lines)-4):], "\n")
		if b.GetResult() != registryv1.BuildReport_Failure || !strings.Contains(tail, reason) {
			t.Errorf("%s written through the API: build %v; want a failure whose log ends with %q:\n%s", name, b.GetResult(), reason, tail)
		}
	}
}

// Issue 12, through the real binary: an identity that may not list
// packages (the emulator's org without a catalog answers ListAPKs with
// PermissionDenied) gets one warning naming apk.list, and the daemon still
// reconciles; the check is reported as skipped in /status, the page and
// the metrics, and changes no exit code.
func TestAcceptancePackageCheckWithoutAPKList(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.repo("b", overlay.Overlay{})
	f.commit(map[string]string{
		"ca-images-iac/a.yaml": "contents:\n  packages: [anything]\n",
		"ca-images-iac/b.yaml": "contents:\n  packages: [whatever]\n",
	})
	code, out, _ := f.exec("plan")
	if code != 2 || !strings.Contains(out, "\nPackage check: skipped (listing packages needs the apk.list capability: ") {
		t.Errorf("plan: exit %d, want 2 (drift) and the check skipped:\n%s", code, out)
	}

	d := f.startBinary("run", "--interval", "1h", "--log-format", "json")
	d.await("the first cycle", func() bool { return strings.Contains(d.stderr.String(), `"msg":"reconcile finished"`) })
	for _, name := range []string{"a", "b"} {
		if got := overlaypb.FromProto(f.emu.Repo(f.repoID(name)).GetCustomOverlay()); len(got.Packages) != 1 {
			t.Errorf("repo %s not written: %+v", name, got)
		}
	}
	warnings := 0
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "package check") {
			warnings++
			if !strings.Contains(line, `"capability":"apk.list"`) {
				t.Errorf("the warning does not name apk.list: %s", line)
			}
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings about the package check, want 1:\n%s", warnings, d.stderr.String())
	}
	body, _ := get(t, "http://"+d.addr+"/status")
	var st struct {
		PackageCheck struct {
			Status     string `json:"status"`
			Capability string `json:"missing_capability"`
			Checked    int    `json:"repos_checked"`
		} `json:"package_check"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.PackageCheck.Status != "skipped" || st.PackageCheck.Capability != "apk.list" || st.PackageCheck.Checked != 2 {
		t.Errorf("/status package_check = %+v (%v)", st.PackageCheck, err)
	}
	page, _ := get(t, "http://"+d.addr+"/")
	if !strings.Contains(page, `<span class="badge warn">skipped</span>`) || !strings.Contains(page, "the identity lacks <code>apk.list</code>, so nothing is refused") {
		t.Errorf("the page does not show the skipped check:\n%s", page)
	}
	metrics, _ := get(t, "http://"+d.addr+"/metrics")
	for _, want := range []string{`ca_reconciler_package_check_status{status="skipped"} 1`, `ca_reconciler_package_checks_total{status="skipped"} 1`, "ca_reconciler_package_check_refused_repos 0"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	d.stop()
	if code, _, errOut := f.exec("run", "--once"); code != 0 {
		t.Errorf("run --once in sync without apk.list: exit %d\n%s", code, errOut)
	}
}

// Issue 9, through the real binary: a repo whose Repo and custom_overlay
// carry fields this SDK does not know (set with ProtoReflect().SetUnknown
// through the SDK's client) is in sync with its file; after a commit that
// adds a package the write adds it and the read-back still holds both
// unknown fields unchanged; an empty file resets the overlay and the
// unknown fields are still there.
func TestAcceptanceUnknownFieldsAreKept(t *testing.T) {
	f := newFixture(t)
	id := f.repo("web", overlay.Overlay{Packages: []string{"curl"}})
	withUnknown := f.addUnknownFields(id)
	repoUnknown, overlayUnknown := withUnknown.ProtoReflect().GetUnknown(), withUnknown.GetCustomOverlay().ProtoReflect().GetUnknown()
	f.commit(map[string]string{"ca-images-iac/web.yaml": "contents:\n  packages: [curl]\n"})
	const note = "the live overlay holds 1 field(s) this version does not know; they are kept"

	code, out, errOut := f.exec("plan")
	if code != 0 || !strings.Contains(out, "= web (ca-images-iac/web.yaml): in sync\n    "+note+"\n") {
		t.Fatalf("plan of a repo whose only difference is unknown fields: exit %d\n%s\n%s", code, out, errOut)
	}
	readBack := func() *registryv1.Repo {
		t.Helper()
		list, err := f.clients().Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{Id: id})
		if err != nil || len(list.GetItems()) != 1 {
			t.Fatalf("reading web back: %v, %d repos", err, len(list.GetItems()))
		}
		return list.GetItems()[0]
	}
	checkUnknown := func(when string, r *registryv1.Repo) {
		t.Helper()
		if got := r.ProtoReflect().GetUnknown(); string(got) != string(repoUnknown) {
			t.Errorf("%s: the repo's unknown fields = %q, want %q", when, got, repoUnknown)
		}
		if got := r.GetCustomOverlay().ProtoReflect().GetUnknown(); string(got) != string(overlayUnknown) {
			t.Errorf("%s: the overlay's unknown fields = %q, want %q", when, got, overlayUnknown)
		}
	}

	f.commit(map[string]string{"ca-images-iac/web.yaml": "contents:\n  packages: [curl, jq]\n"})
	code, _, errOut = f.exec("run", "--once", "--log-format", "json")
	if code != 0 {
		t.Fatalf("run after adding a package: exit %d\n%s", code, errOut)
	}
	r := readBack()
	if got := r.GetCustomOverlay().GetContents().GetPackages(); !cmp.Equal(got, []string{"curl", "jq"}) {
		t.Errorf("packages after the write = %q, want [curl jq]", got)
	}
	checkUnknown("after adding a package", r)
	var written map[string]any
	for _, line := range strings.Split(errOut, "\n") {
		if strings.Contains(line, `"msg":"repo written"`) {
			if err := json.Unmarshal([]byte(line), &written); err != nil {
				t.Fatal(err)
			}
		}
	}
	if written["unknown_fields"] != note || written["unknown_fields_kept"] != float64(1) {
		t.Errorf("the write log line = %v, want it to say the unknown field was kept", written)
	}

	f.commit(map[string]string{"ca-images-iac/web.yaml": ""})
	if code, _, errOut = f.exec("run", "--once"); code != 0 {
		t.Fatalf("run after emptying the file: exit %d\n%s", code, errOut)
	}
	r = readBack()
	if got := overlaypb.FromProto(r.GetCustomOverlay()); !got.IsZero() {
		t.Errorf("the overlay after the reset = %+v, want empty", got)
	}
	checkUnknown("after the reset", r)
	if code, out, _ = f.exec("plan"); code != 0 || !strings.Contains(out, "= web (ca-images-iac/web.yaml): in sync\n    "+note+"\n") {
		t.Errorf("plan after the reset: exit %d\n%s", code, out)
	}
}

// Issue 9, through the real binary: validate accepts what the service
// accepts (run-as nonroot, "65532" and an undefined user, the last with a
// warning; an org.opencontainersx. annotation) and refuses what it refuses
// (a keyring entry with two blocks or text around its block, a GUARDED_
// environment key), every message naming file, line and field.
func TestAcceptanceValidateRules(t *testing.T) {
	pem, err := os.ReadFile(filepath.Join("..", "..", "overlay", "testdata", "pem", "apk-pkix.rsa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(pem))
	indent := func(s string) string { return "        " + strings.ReplaceAll(s, "\n", "\n        ") + "\n" }
	keyring := func(content string) string {
		return "contents:\n  runtime_keyring:\n    - name: key.rsa.pub\n      content: |\n" + indent(content)
	}
	f := newFixture(t)
	for _, tc := range []struct {
		name, file string
		code       int
		out        string
	}{
		{"run-as nonroot", "accounts:\n  run-as: nonroot\n", 0, ""},
		{"run-as 65532", "accounts:\n  run-as: \"65532\"\n", 0, ""},
		{"run-as an undefined user", "accounts:\n  run-as: bob\n", 0,
			`ca-images-iac/x.yaml:2:11: warning: accounts.run-as: user "bob" is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it` + "\n"},
		{"org.opencontainersx annotation", "annotations:\n  org.opencontainersx.team: web\n", 0, ""},
		{"a keyring entry alone", keyring(key), 0, ""},
		{"a keyring entry with two blocks", keyring(key + "\n" + key), 1,
			"ca-images-iac/x.yaml:4:16: contents.runtime_keyring[0].content: has 2 PEM blocks, want exactly one\n"},
		{"text before a keyring block", keyring("my team's key\n" + key), 1,
			"ca-images-iac/x.yaml:4:16: contents.runtime_keyring[0].content: text before the PEM block; a runtime key is the PEM block alone\n"},
		{"text after a keyring block", keyring(key + "\nrotated 2026-11"), 1,
			"ca-images-iac/x.yaml:4:16: contents.runtime_keyring[0].content: text after the PEM block; a runtime key is the PEM block alone\n"},
		{"a GUARDED_ environment key", "environment:\n  GUARDED_MODE: strict\n", 1,
			`ca-images-iac/x.yaml:2:3: environment.GUARDED_MODE: key prefix "GUARDED_" is reserved` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "ca-images-iac"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ca-images-iac", "x.yaml"), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := f.validateIn(dir)
			if cmd.code != tc.code || cmd.stdout != tc.out {
				t.Errorf("validate: exit %d, output:\n%s\nwant exit %d, output:\n%s", cmd.code, cmd.stdout, tc.code, tc.out)
			}
		})
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// validateIn runs the binary's validate in dir, on its ca-images-iac.
func (f *fixture) validateIn(dir string) result {
	f.t.Helper()
	cmd := exec.CommandContext(f.t.Context(), binary(f.t), "validate")
	cmd.Dir = dir
	code, stdout, stderr := runCmd(f.t, cmd)
	return result{code, stdout, stderr}
}
