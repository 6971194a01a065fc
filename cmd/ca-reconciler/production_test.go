package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	oidcv1 "chainguard.dev/sdk/proto/platform/oidc/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

const (
	gitPassword   = "ghp-git-password-never-print-42"
	webhookSecret = "whsec-webhook-never-print-43"
)

// gitHTTPServer serves dir's repositories with `git http-backend` behind
// basic auth (user robot, password gitPassword).
func gitHTTPServer(t *testing.T, root string) *httptest.Server {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "robot" || p != gitPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func postHook(t *testing.T, url, body string) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	return testenv.Status(t, req)
}

// assumable creates an identity under orgID that idp's tokens for subject
// can assume, and mints one such OIDC token (valid for an hour).
func assumable(t *testing.T, emu *emulator.Server, orgID string, idp *emulator.OIDCIssuer, subject string) (identity, oidcToken string) {
	t.Helper()
	identity, err := emu.CreateIdentity(orgID, idp.Issuer(), subject)
	if err != nil {
		t.Fatal(err)
	}
	oidcToken, err = idp.Mint(subject, "issuer.enforce.dev", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return identity, oidcToken
}

// The daemon with every production input at once: workload identity through
// the emulator's STS (with a token refresh), a private Git repo over HTTP
// basic auth, and push webhooks. No secret shows up anywhere.
func TestProductionInputs(t *testing.T) {
	idp, err := emulator.NewOIDCIssuer("https://kubernetes.default.svc")
	if err != nil {
		t.Fatal(err)
	}
	emu, apiURL := emutest.Start(t, emulator.Options{BuildDuration: 10 * time.Millisecond, Issuers: []emulator.TrustedIssuer{idp.TrustedIssuer()}, TokenTTL: 3 * time.Second})
	orgID := emu.CreateOrg("acme.example")
	repo := emu.CreateRepo(orgID, &registryv1.Repo{Name: "a", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
	const subject = "system:serviceaccount:ca-reconciler:ca-reconciler"
	identity, oidcToken := assumable(t, emu, orgID, idp, subject)

	// A bare repo served over HTTP, fed from a work tree.
	root := t.TempDir()
	f := &fixture{t: t, dir: t.TempDir()}
	f.git("init", "-q", "-b", "main")
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	f.git("clone", "-q", "--bare", f.dir, filepath.Join(root, "config.git"))
	f.git("remote", "add", "origin", filepath.Join(root, "config.git"))
	gitSrv := gitHTTPServer(t, root)

	secrets := t.TempDir()
	args := []string{"run",
		"--git-url", gitSrv.URL + "/config.git", "--git-username", "robot",
		"--git-password-file", writeFile(t, secrets, "git-password", gitPassword+"\n"),
		"--api", apiURL, "--org", "acme.example",
		"--identity", identity, "--oidc-token-file", writeFile(t, secrets, "oidc", oidcToken), "--issuer", apiURL,
		"--webhook-secret-file", writeFile(t, secrets, "webhook", webhookSecret),
		"--interval", "1h", "--cache-dir", t.TempDir(), "--log-level", "debug"}
	d := startDaemon(t, args, func(string) (string, bool) { return "", false })
	listen := d.addr

	live := func() overlay.Overlay { return overlaypb.FromProto(emu.Repo(repo.GetId()).GetCustomOverlay()) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, d.stderr.String())
			}
		}
	}
	waitFor("the first cycle's write", func() bool { return overlay.Equal(live(), overlay.Overlay{Packages: []string{"curl"}}) })

	// A push, then its webhook: the cycle it triggers writes the change.
	push := func(pkgs string) {
		f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [" + pkgs + "]\n"})
		f.git("push", "-q", "origin", "main")
		// Each push's body differs, as GitHub's do: a body seen before is a
		// replay and triggers nothing.
		if code := postHook(t, "http://"+listen+"/hooks/github", `{"ref":"refs/heads/main","after":"`+pkgs+`"}`); code != http.StatusAccepted {
			t.Fatalf("webhook answered %d", code)
		}
	}
	push("jq")
	waitFor("the webhook-triggered write", func() bool { return overlay.Equal(live(), overlay.Overlay{Packages: []string{"jq"}}) })
	// Past the token's refresh point, the next cycle exchanges again.
	time.Sleep(3 * time.Second)
	push("wget")
	waitFor("the write after the token refresh", func() bool { return overlay.Equal(live(), overlay.Overlay{Packages: []string{"wget"}}) })
	if n := emu.Calls(oidcv1.SecurityTokenService_Exchange_FullMethodName); n < 2 {
		t.Errorf("STS exchanges = %d, want at least 2 (a refresh)", n)
	}

	var served []string
	for _, p := range []string{"/status", "/metrics"} {
		body, code := get(t, "http://"+listen+p)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
		served = append(served, body)
	}
	d.stop()
	everything := strings.Join(append(served, d.stdout.String(), d.stderr.String()), "\n")
	if !strings.Contains(everything, `ca_reconciler_webhook_requests_total{provider="github",result="accepted"} 2`) {
		t.Errorf("webhook requests not counted:\n%s", served[1])
	}
	for name, secret := range map[string]string{"git password": gitPassword, "webhook secret": webhookSecret, "OIDC token": oidcToken} {
		if strings.Contains(everything, secret) {
			t.Errorf("the %s appears in the daemon's output", name)
		}
	}
}
