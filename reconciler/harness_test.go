package reconciler_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// gitRepo is a real Git repository on disk, driven with the git CLI.
type gitRepo struct {
	t   testing.TB
	dir string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content; empty content with a "-" key prefix
// deletes) and commits them, returning the new revision.
func (g *gitRepo) commit(files map[string]string) string {
	g.t.Helper()
	var added []string
	for p, content := range files {
		if strings.HasPrefix(p, "-") {
			g.git("rm", "-q", strings.TrimPrefix(p, "-"))
			continue
		}
		full := filepath.Join(g.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
		added = append(added, p)
	}
	if len(added) > 0 {
		g.git(append([]string{"add", "--"}, added...)...)
	}
	g.git("commit", "-q", "--allow-empty", "-m", "change")
	return g.git("rev-parse", "HEAD")
}

// world is one emulator, one org, one Git repo and a client.
type world struct {
	t      testing.TB
	emu    *emulator.Server
	url    string
	orgID  string
	git    *gitRepo
	client *chainguard.Client
	repos  map[string]string // name -> id
}

func newWorld(t testing.TB) *world {
	t.Helper()
	emu, url := emutest.Start(t, emulator.Options{BuildDuration: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := chainguard.Dial(ctx, chainguard.Config{URL: url, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	w := &world{t: t, emu: emu, url: url, git: newGitRepo(t), client: client, repos: map[string]string{}}
	w.orgID = emu.CreateOrg("acme.example", "certificates", "runtime_repositories")
	return w
}

// customRepo creates a Custom Assembly repo with every field set, so that
// tests can check writes keep them.
func (w *world) customRepo(name string, live overlay.Overlay) string {
	w.t.Helper()
	repo := testenv.CustomRepo(name)
	repo.CustomOverlay = overlaypb.ToProto(live)
	r := w.emu.CreateRepo(w.orgID, repo)
	w.repos[name] = r.GetId()
	return r.GetId()
}

func (w *world) source() *gitsource.Source {
	w.t.Helper()
	src, err := gitsource.New(gitsource.Config{
		URL:      w.git.dir,
		Path:     "ca-images-iac",
		CacheDir: w.t.TempDir(),
		Logger:   zaptest.NewLogger(w.t).Named("git"),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return src
}

type harness struct {
	r   *reconciler.Reconciler
	reg *prometheus.Registry
	m   *metrics.Metrics
}

func (w *world) reconciler(mode vocab.Mode, log *zap.Logger, reg reconciler.Registry) harness {
	w.t.Helper()
	if log == nil {
		log = zaptest.NewLogger(w.t)
	}
	if reg == nil {
		reg = w.client
	}
	pr := prometheus.NewRegistry()
	m := metrics.New(pr, "test")
	r := reconciler.New(reconciler.Config{
		Org:          "acme.example",
		Dir:          "ca-images-iac",
		Mode:         mode,
		RetryInitial: time.Millisecond,
	}, w.source(), reg, log, m)
	return harness{r: r, reg: pr, m: m}
}

// live returns a repo's overlay as the emulator stores it.
func (w *world) live(name string) overlay.Overlay {
	w.t.Helper()
	return overlaypb.FromProto(w.emu.Repo(w.repos[name]).GetCustomOverlay())
}

func mustParse(t testing.TB, src string) overlay.Overlay {
	t.Helper()
	o, err := overlay.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	return o
}
