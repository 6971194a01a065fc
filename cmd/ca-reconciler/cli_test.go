package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

const apiToken = "tok-9f8e7d6c5b4a-do-not-print"

// fixture is an emulator with one org and a Git repo of overlay files.
type fixture struct {
	t     *testing.T
	emu   *emulator.Server
	url   string
	orgID string
	dir   string
	env   map[string]string
	repos map[string]string // name -> id
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, emulator.Options{})
}

func (f *fixture) git(args ...string) {
	f.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (f *fixture) commit(files map[string]string) {
	f.t.Helper()
	for p, c := range files {
		full := filepath.Join(f.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	f.git("add", "-A")
	f.git("commit", "-q", "-m", "change")
}

func (f *fixture) repo(name string, live overlay.Overlay) string {
	f.t.Helper()
	r := f.emu.CreateRepo(f.orgID, &registryv1.Repo{Name: name, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}, CustomOverlay: overlaypb.ToProto(live)})
	f.repos[name] = r.GetId()
	return r.GetId()
}

func (f *fixture) getenv(k string) (string, bool) {
	v, ok := f.env[k]
	return v, ok
}

// run runs the CLI in-process with the fixture's repo, API and org, and
// returns its exit code, stdout and stderr.
func (f *fixture) run(args ...string) (int, string, string) {
	f.t.Helper()
	if args[0] == "run" || args[0] == "plan" {
		args = append(args, "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", f.t.TempDir())
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, args, &stdout, &stderr, f.getenv)
	return code, stdout.String(), stderr.String()
}

func TestPlanExitCodes(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	code, out, errOut := f.run("plan")
	if code != 0 || !strings.Contains(out, "= a (ca-images-iac/a.yaml): in sync") {
		t.Fatalf("in sync: exit %d\n%s\n%s", code, out, errOut)
	}
	// A Console edit is drift: exit 2, naming the repo and the change.
	if err := f.emu.ConsoleEdit(f.repoID("a"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "jq"}})); err != nil {
		t.Fatal(err)
	}
	code, out, _ = f.run("plan")
	if code != 2 || !strings.Contains(out, "~ a (ca-images-iac/a.yaml): update\n    - package jq\n") {
		t.Errorf("drift: exit %d\n%s", code, out)
	}
	code, out, _ = f.run("plan", "-o", "json")
	if code != 2 || !strings.Contains(out, `"action": "update"`) || !strings.Contains(out, `"- package jq"`) || !strings.Contains(out, `"in_sync": false`) {
		t.Errorf("drift json: exit %d\n%s", code, out)
	}
	// An invalid file: exit 1, with file, line and field.
	f.commit(map[string]string{"ca-images-iac/b.yaml": "environment:\n  CHAINGUARD_X: y\n"})
	f.repo("b", overlay.Overlay{})
	code, out, _ = f.run("plan")
	if code != 1 || !strings.Contains(out, "ca-images-iac/b.yaml:2:3: environment.CHAINGUARD_X") {
		t.Errorf("invalid: exit %d\n%s", code, out)
	}
}

func (f *fixture) repoID(name string) string {
	f.t.Helper()
	id, ok := f.repos[name]
	if !ok {
		f.t.Fatalf("no repo %s", name)
	}
	return id
}

func TestRunOnceExitCodes(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})

	// detect: drift is left and reported with exit 2, nothing written.
	code, _, errOut := f.run("run", "--once", "--mode", "detect")
	if code != 2 {
		t.Errorf("detect with drift: exit %d\n%s", code, errOut)
	}
	if n := f.emu.Calls(registryv1.Registry_UpdateRepo_FullMethodName) + f.emu.Calls(registryv2.ReposService_UpdateRepo_FullMethodName); n != 0 {
		t.Errorf("detect wrote %d times", n)
	}
	// apply: written and in sync, exit 0.
	code, _, errOut = f.run("run", "--once")
	if code != 0 {
		t.Errorf("apply: exit %d\n%s", code, errOut)
	}
	if !overlay.Equal(overlaypb.FromProto(f.emu.Repo(f.repoID("a")).GetCustomOverlay()), overlay.Overlay{Packages: []string{"curl"}}) {
		t.Errorf("not written")
	}
	// a file naming a missing repo: exit 1 and the reason in the log.
	f.commit(map[string]string{"ca-images-iac/ghost.yaml": "{}\n"})
	code, _, errOut = f.run("run", "--once")
	if code != 1 || !strings.Contains(errOut, `repo \"ghost\" does not exist`) {
		t.Errorf("missing repo: exit %d\n%s", code, errOut)
	}
}

// --once serves nothing and follows no build: the serving flags it was
// given (on the command line or in the environment) are named in a warning,
// not silently dropped, and the cycle runs all the same.
func TestRunOnceWarnsOfServingFlags(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	f.env["CA_RECONCILER_INTERVAL"] = "5m"
	code, _, errOut := f.run("run", "--once", "--webhook-listen", "127.0.0.1:0", "--pprof")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, `"msg":"--once runs one cycle and serves nothing: these flags are not used","flags":["--pprof","--webhook-listen","--interval"]`) {
		t.Errorf("no warning naming --pprof, --webhook-listen and --interval:\n%s", errOut)
	}
	if !overlay.Equal(overlaypb.FromProto(f.emu.Repo(f.repoID("a")).GetCustomOverlay()), overlay.Overlay{Packages: []string{"curl"}}) {
		t.Errorf("the cycle did not write")
	}
	// Without serving flags, no warning.
	delete(f.env, "CA_RECONCILER_INTERVAL")
	if code, _, errOut = f.run("run", "--once"); code != 0 || strings.Contains(errOut, "serves nothing") {
		t.Errorf("without serving flags: exit %d, want 0 and no warning:\n%s", code, errOut)
	}
}

func TestConfigurationErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--once", "--org", "x"}, "--git-url is required"},
		{[]string{"run", "--once", "--git-url", "."}, "--org is required"},
		{[]string{"run", "--once", "--git-url", ".", "--org", "x", "--api", "grpc://api.example.com"}, `scheme must be https or http`},
		{[]string{"run", "--once", "--git-url", ".", "--org", "x", "--api", "http://api.example.com"}, `use https:// or pass --insecure`},
		{[]string{"run", "--once", "--git-url", ".", "--org", "x", "--mode", "yolo"}, `--mode "yolo": want apply or detect`},
		{[]string{"plan", "--git-url", ".", "--org", "x", "-o", "yaml"}, `-o "yaml": want text, json or markdown`},
		{[]string{"run", "--once", "--git-url", "https://bob:hunter2@example.com/r.git", "--org", "x", "--api", f.url},
			"--git-url https://bob:REDACTED@example.com/r.git embeds a password; put it in --git-password-file instead"},
		{[]string{"run", "--once", "--git-url", "https://example.com/r.git", "--git-username", "bob", "--org", "x", "--api", f.url},
			"--git-username is set without --git-password-file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, f.getenv)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
		if strings.Contains(stderr.String(), "hunter2") {
			t.Errorf("%v: stderr holds the password: %s", tc.args, stderr.String())
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"images/a.yaml": "contents:\n  packages: [curl]\n"})
	f.env["CA_RECONCILER_GIT_URL"] = f.dir
	f.env["CA_RECONCILER_API"] = f.url
	f.env["CA_RECONCILER_ORG"] = "acme.example"
	f.env["CA_RECONCILER_PATH"] = "images"
	f.env["CA_RECONCILER_MODE"] = "detect"
	f.env["CA_RECONCILER_CACHE_DIR"] = t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", "--once"}, &stdout, &stderr, f.getenv); code != 2 {
		t.Errorf("env-configured detect run: exit %d, want 2 (drift)\n%s", code, stderr.String())
	}
	// A flag wins over its variable.
	stderr.Reset()
	if code := run(context.Background(), []string{"run", "--once", "--mode", "apply"}, &stdout, &stderr, f.getenv); code != 0 {
		t.Errorf("flag over env: exit %d\n%s", code, stderr.String())
	}
	f.env["CA_RECONCILER_INTERVAL"] = "soon"
	stderr.Reset()
	if code := run(context.Background(), []string{"run", "--once"}, &stdout, &stderr, f.getenv); code != 1 || !strings.Contains(stderr.String(), "invalid CA_RECONCILER_INTERVAL") {
		t.Errorf("bad env value: exit %d, %s", code, stderr.String())
	}
}

// background is `ca-reconciler run` running in the background of a test,
// serving on addr.
type background struct {
	t              *testing.T
	addr           string
	stdout, stderr *testenv.SyncBuffer
	cancel         context.CancelFunc
	done           chan int
	stopped        bool
}

// startDaemon runs the CLI with args plus --listen on a free loopback port,
// waits until /healthz answers, and stops it at the end of the test. The
// port comes from freeAddr, which another socket can take first; a daemon
// that fails to bind is started again on a new port.
func startDaemon(t *testing.T, args []string, getenv env) *background {
	t.Helper()
start:
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithCancel(context.Background())
		d := &background{t: t, addr: freeAddr(t), stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, cancel: cancel, done: make(chan int, 1)}
		go func() { d.done <- run(ctx, append(args, "--listen", d.addr), d.stdout, d.stderr, getenv) }()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			select {
			case code := <-d.done:
				cancel()
				if attempt < 5 && strings.Contains(d.stderr.String(), "address already in use") {
					continue start
				}
				t.Fatalf("daemon exited %d at start:\n%s", code, d.stderr.String())
			default:
			}
			if _, code := get(t, "http://"+d.addr+"/healthz"); code == http.StatusOK {
				t.Cleanup(d.stop)
				return d
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("daemon not serving after 30s:\n%s", d.stderr.String())
			}
		}
	}
}

// stop cancels the daemon, waits for it, and fails the test unless it
// exited 0. It may be called more than once.
func (d *background) stop() {
	if d.stopped {
		return
	}
	d.stopped = true
	d.cancel()
	if code := <-d.done; code != 0 {
		d.t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The API token never appears in logs, errors, metrics, /status or the
// status page, whatever happens: good cycles, refused writes, bad files.
func TestTokenNeverLeaks(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.emu.CreateRepo(f.orgID, &registryv1.Repo{Name: "plain"}) // refuses overlays
	f.commit(map[string]string{
		"ca-images-iac/a.yaml":     "contents:\n  packages: [curl]\n",
		"ca-images-iac/plain.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/bad.yaml":   "entrypoint: {command: x}\n",
	})
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1s", "--log-level", "debug"}, f.getenv)
	addr := d.addr
	var served []string
	deadline := time.Now().Add(30 * time.Second)
	for _, path := range []string{"/readyz", "/status", "/metrics", "/"} {
		for {
			body, code := get(t, "http://"+addr+path)
			if code == http.StatusOK || (path == "/" && code == http.StatusNotFound) {
				served = append(served, body)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d %s\nlogs:\n%s", path, code, body, d.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Make a write fail with a transient error too, so retries are logged.
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [jq]\n"})
	f.emu.InjectFault(registryv2.ReposService_UpdateRepo_FullMethodName, codes.Unavailable, 1)
	time.Sleep(1500 * time.Millisecond)
	d.stop()
	everything := strings.Join(append(served, d.stdout.String(), d.stderr.String()), "\n")
	if !strings.Contains(everything, "plain") || !strings.Contains(everything, "ca_reconciler_writes_total") {
		t.Fatalf("the test did not see the daemon's output:\n%s", everything)
	}
	if strings.Contains(everything, apiToken) {
		t.Errorf("the API token appears in the daemon's output")
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}
