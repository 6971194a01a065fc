package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/internal/bytecount"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

const (
	org          = "bench.example"
	benchToken   = "bench-token"
	benchSecret  = "bench-webhook-secret"
	overlayDir   = "ca-images-iac"
	gitUserEnvKV = "GIT_CONFIG_GLOBAL=/dev/null"
)

// world is a temporary folder with a bare Git repository served over HTTP
// by git http-backend (counting the bytes it sends), a work tree that pushes
// to it, and an emulator seed with n repos.
type world struct {
	dir, work, bare, seed string
	n, round              int
	gitURL                string
	srv                   *http.Server
	served                atomic.Int64 // bytes git http-backend sent
	requests              atomic.Int64
}

func repoName(i int) string { return fmt.Sprintf("repo-%04d", i) }

// fileFor is repo i's overlay file in round r.
func fileFor(i, r int) string {
	return fmt.Sprintf("contents:\n  packages: [curl, jq]\nenvironment:\n  APP_ENV: production\n  ROUND: %q\nannotations:\n  com.example.repo: %s\n", fmt.Sprint(r), repoName(i))
}

func newWorld(dir string, n int) (*world, error) {
	w := &world{dir: dir, work: filepath.Join(dir, "work"), bare: filepath.Join(dir, "config.git"), seed: filepath.Join(dir, "seed.yaml"), n: n}
	// The seed: n Custom Assembly repos with no overlay, so the daemon's
	// first cycle writes every one.
	var b strings.Builder
	fmt.Fprintf(&b, "orgs:\n  - name: %s\n    repos:\n", org)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - name: %s\n        active_tags: [latest]\n        sync_config:\n          source: cgr.dev/chainguard/static\n          apko_overlay: \"contents: {}\"\n", repoName(i))
	}
	if err := os.WriteFile(w.seed, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	if err := w.git(dir, "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return nil, err
	}
	if err := w.git(dir, "clone", "-q", w.bare, w.work); err != nil {
		return nil, err
	}
	if err := w.git(w.work, "checkout", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(w.work, overlayDir), 0o755); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"), []byte(fileFor(i, 0)), 0o644); err != nil {
			return nil, err
		}
	}
	if err := w.commit(); err != nil {
		return nil, err
	}
	return w, w.serve()
}

func (w *world) git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@example.com", gitUserEnvKV)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (w *world) commit() error {
	if err := w.git(w.work, "add", "-A"); err != nil {
		return err
	}
	if err := w.git(w.work, "commit", "-q", "-m", fmt.Sprintf("round %d", w.round)); err != nil {
		return err
	}
	return w.git(w.work, "push", "-q", "origin", "main")
}

// change edits repo i's file, commits and pushes; it returns the overlay
// the daemon must now write.
func (w *world) change(i int) (overlay.Overlay, error) {
	w.round++
	src := fileFor(i, w.round)
	if err := os.WriteFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"), []byte(src), 0o644); err != nil {
		return overlay.Overlay{}, err
	}
	o, err := overlay.Parse(repoName(i)+".yaml", []byte(src))
	if err != nil {
		return overlay.Overlay{}, err
	}
	return o, w.commit()
}

// changeMany edits the files of repos 0..k-1 in one commit and pushes it.
func (w *world) changeMany(k int) error {
	w.round++
	for i := range k {
		if err := os.WriteFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"), []byte(fileFor(i, w.round)), 0o644); err != nil {
			return err
		}
	}
	return w.commit()
}

// serve starts git http-backend for the bare repository on loopback.
func (w *world) serve() error {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return fmt.Errorf("git --exec-path: %w", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + w.dir, "GIT_HTTP_EXPORT_ALL=1", gitUserEnvKV},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	w.gitURL = "http://" + lis.Addr().String() + "/config.git"
	w.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		backend.ServeHTTP(&bytecount.Writer{ResponseWriter: rw, N: &w.served}, r)
	})}
	go func() { _ = w.srv.Serve(lis) }()
	return nil
}

func (w *world) close() { _ = w.srv.Close() }

// startWorld makes a world of n repos in dir (created if need be) and
// starts the emulator seeded with it (adding latency to every call). stop
// stops the emulator and the Git server.
func startWorld(bin, dir string, n int, latency time.Duration) (w *world, apiURL string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", nil, err
	}
	if w, err = newWorld(dir, n); err != nil {
		return nil, "", nil, err
	}
	emu, apiURL, err := startEmulator(bin, w.seed, filepath.Join(dir, "emulator.log"), latency)
	if err != nil {
		w.close()
		return nil, "", nil, err
	}
	return w, apiURL, func() { emu.stop(); w.close() }, nil
}

// postHook sends a signed generic webhook to the daemon.
func postHook(ctx context.Context, addr string) error {
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write([]byte(body))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/hooks/generic", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// callCounter counts API calls by method (chainguard.Observer).
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) ObserveAPIRequest(method, _ string, _ float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
}

func (c *callCounter) total() (calls, updates int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for m, v := range c.n {
		calls += v
		if strings.HasSuffix(m, "UpdateRepo") {
			updates += v
		}
	}
	return calls, updates
}

// baseline is the CI job teams run today: on every push, apply every file
// (`chainctl image repo build apply -f FILE` for each: resolve the org,
// read the repo, write it). It returns its wall time and API calls.
func (w *world) baseline(ctx context.Context, apiURL string) (time.Duration, int, int, error) {
	cc := &callCounter{}
	client, err := chainguard.Dial(ctx, chainguard.Config{URL: apiURL, Tokens: chainguard.StaticToken(benchToken), Observer: cc, CallTimeout: 5 * time.Minute})
	if err != nil {
		return 0, 0, 0, err
	}
	defer client.Close()
	start := time.Now()
	o, err := client.ResolveOrg(ctx, org)
	if err != nil {
		return 0, 0, 0, err
	}
	repos, err := client.ListRepos(ctx, o.ID)
	if err != nil {
		return 0, 0, 0, err
	}
	ids := map[string]string{}
	for _, r := range repos {
		ids[r.Name] = r.ID
	}
	for i := 0; i < w.n; i++ {
		data, err := os.ReadFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"))
		if err != nil {
			return 0, 0, 0, err
		}
		ov, err := overlay.Parse(repoName(i)+".yaml", data)
		if err != nil {
			return 0, 0, 0, err
		}
		if _, err := client.WriteOverlay(ctx, ids[repoName(i)], ov); err != nil {
			return 0, 0, 0, err
		}
	}
	wall := time.Since(start)
	calls, updates := cc.total()
	return wall, calls, updates, nil
}
