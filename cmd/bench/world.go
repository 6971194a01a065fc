package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

const (
	org        = "bench.example"
	benchToken = "bench-token"
)

// world is an emulator with n Custom Assembly repos and a Git repo with one
// file per repo, all in sync to begin with.
type world struct {
	emu    *emulator.Server
	url    string
	client *chainguard.Client
	dir    string
	tmp    string
	ids    map[string]string
	n      int
	round  int
}

func fileFor(i, round int) string {
	return fmt.Sprintf("contents:\n  packages: [curl, jq]\nenvironment:\n  APP_ENV: production\n  ROUND: %q\nannotations:\n  com.example.repo: repo-%03d\n", fmt.Sprint(round), i)
}

func newWorld(n int) (*world, error) {
	tmp, err := os.MkdirTemp("", "ca-reconciler-bench-")
	if err != nil {
		return nil, err
	}
	w := &world{emu: emulator.New(emulator.Options{BuildDuration: time.Millisecond, Token: benchToken}), tmp: tmp, dir: filepath.Join(tmp, "config"), ids: map[string]string{}, n: n}
	w.url, err = w.emu.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if w.client, err = chainguard.Dial(ctx, chainguard.Config{URL: w.url, Tokens: chainguard.StaticToken(benchToken)}); err != nil {
		return nil, err
	}
	orgID := w.emu.CreateOrg(org)
	if err := os.MkdirAll(filepath.Join(w.dir, "ca-images-iac"), 0o755); err != nil {
		return nil, err
	}
	if err := w.git("init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("repo-%03d", i)
		o, err := overlay.Parse(name, []byte(fileFor(i, 0)))
		if err != nil {
			return nil, err
		}
		r := w.emu.CreateRepo(orgID, &registryv1.Repo{Name: name, ActiveTags: []string{"latest"}, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}, CustomOverlay: overlaypb.ToProto(o)})
		w.ids[name] = r.GetId()
		if err := os.WriteFile(filepath.Join(w.dir, "ca-images-iac", name+".yaml"), []byte(fileFor(i, 0)), 0o644); err != nil {
			return nil, err
		}
	}
	return w, w.commit()
}

func (w *world) close() {
	_ = w.client.Close()
	w.emu.Close()
	_ = os.RemoveAll(w.tmp)
}

func (w *world) git(args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (w *world) commit() error {
	if err := w.git("add", "-A"); err != nil {
		return err
	}
	return w.git("commit", "-q", "--allow-empty", "-m", "change")
}

// change edits repo i's file and commits; it returns the overlay now wanted.
func (w *world) change(i int) (overlay.Overlay, error) {
	w.round++
	src := fileFor(i, w.round)
	if err := os.WriteFile(filepath.Join(w.dir, "ca-images-iac", fmt.Sprintf("repo-%03d.yaml", i)), []byte(src), 0o644); err != nil {
		return overlay.Overlay{}, err
	}
	o, err := overlay.Parse("x", []byte(src))
	if err != nil {
		return overlay.Overlay{}, err
	}
	return o, w.commit()
}

func (w *world) live(i int) overlay.Overlay {
	return overlaypb.FromProto(w.emu.Repo(w.ids[fmt.Sprintf("repo-%03d", i)]).GetCustomOverlay())
}

func (w *world) reconciler(interval time.Duration) (*reconciler.Reconciler, error) {
	src, err := gitsource.New(gitsource.Config{URL: w.dir, Path: "ca-images-iac", CacheDir: filepath.Join(w.tmp, fmt.Sprintf("cache-%d", time.Now().UnixNano()))})
	if err != nil {
		return nil, err
	}
	return reconciler.New(reconciler.Config{Org: org, Dir: "ca-images-iac", Interval: interval}, src, w.client, zap.NewNop(), metrics.New(prometheus.NewRegistry(), "bench")), nil
}

// apiCalls is the total number of API calls the emulator has served.
func (w *world) apiCalls() (total, updates int) {
	for k, v := range w.emu.Counts() {
		total += v
		if strings.Contains(k, "/UpdateRepo ") {
			updates += v
		}
	}
	return total, updates
}

func (w *world) builds() int {
	n := 0
	for _, id := range w.ids {
		n += len(w.emu.BuildReports(id))
	}
	return n
}
