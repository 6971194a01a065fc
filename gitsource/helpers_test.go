package gitsource

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// gitEnv isolates git from the machine's and user's configuration.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada Author",
		"GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Cy Committer",
		"GIT_COMMITTER_EMAIL=cy@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// runGit runs the git CLI in dir and returns its trimmed output.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// upstream is a non-bare repository that tests commit to and serve.
type upstream struct {
	t   *testing.T
	dir string
}

// newUpstream makes a repository on branch main with the given files
// committed.
func newUpstream(t *testing.T, files map[string]string) *upstream {
	t.Helper()
	u := &upstream{t: t, dir: filepath.Join(t.TempDir(), "upstream")}
	runGit(t, "", "init", "-q", "-b", "main", u.dir)
	u.commit("initial", files)
	return u
}

// write writes files (content "" deletes the file) without committing.
func (u *upstream) write(files map[string]string) {
	u.t.Helper()
	for name, data := range files {
		p := filepath.Join(u.dir, filepath.FromSlash(name))
		if data == "" {
			if err := os.Remove(p); err != nil {
				u.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
}

// commit writes files and commits everything; it returns the new hash.
func (u *upstream) commit(msg string, files map[string]string) string {
	u.t.Helper()
	u.write(files)
	runGit(u.t, u.dir, "add", "-A")
	runGit(u.t, u.dir, "commit", "-q", "--allow-empty", "-m", msg)
	return u.head()
}

func (u *upstream) head() string {
	u.t.Helper()
	return runGit(u.t, u.dir, "rev-parse", "HEAD")
}

// newTestLogger logs to the test and to an observer that tests search.
func newTestLogger(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	tl := zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel))
	return zap.New(zapcore.NewTee(tl.Core(), core)), logs
}

// newTestSource makes a Source with a fresh cache and a test logger, unless
// cfg sets them.
func newTestSource(t *testing.T, cfg Config) (*Source, *observer.ObservedLogs) {
	t.Helper()
	var logs *observer.ObservedLogs
	if cfg.Logger == nil {
		cfg.Logger, logs = newTestLogger(t)
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, logs
}

// fetch calls Fetch with a generous deadline and fails the test on error.
func fetch(t *testing.T, s *Source) (Snapshot, Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, res, err := s.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return snap, res
}

// fetchErr calls Fetch and returns its error, failing the test when there
// is none.
func fetchErr(t *testing.T, s *Source) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, res, err := s.Fetch(ctx)
	if err == nil {
		t.Fatalf("Fetch succeeded with %s %s, want an error", res, snap.Revision)
	}
	if snap.Revision != "" || snap.FS != nil || res != "" {
		t.Errorf("Fetch returned %q and a snapshot %+v with its error", res, snap)
	}
	return err
}

// files reads a snapshot's regular files into a map, for cmp.Diff.
func files(s Snapshot) map[string]string {
	m := map[string]string{}
	_ = fs.WalkDir(s.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			m[name] = "<error: " + err.Error() + ">"
			return nil
		}
		if d.Type().IsRegular() {
			data, err := fs.ReadFile(s.FS, name)
			if err != nil {
				m[name] = "<error: " + err.Error() + ">"
				return nil
			}
			m[name] = string(data)
		}
		return nil
	})
	return m
}

// counts are the Source's network operation counters.
type counts struct{ Lists, Fetches, Clones int64 }

func (s *Source) counts() counts {
	return counts{s.stats.lists.Load(), s.stats.fetches.Load(), s.stats.clones.Load()}
}

// hasLog reports whether a log entry with message msg was written.
func hasLog(logs *observer.ObservedLogs, msg string) bool {
	return logs.FilterMessage(msg).Len() > 0
}

// treeEntries walks a snapshot's FS: regular files map to their content,
// other entries to their type.
func treeEntries(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		switch {
		case d.IsDir():
			m[name] = "<folder>"
		case d.Type().IsRegular():
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			m[name] = string(data)
		default:
			m[name] = "<" + d.Type().String() + ">"
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the snapshot's FS: %v", err)
	}
	return m
}

// diffSnapshots compares two snapshots, their trees by what they hold
// (two Sources' trees read different caches).
func diffSnapshots(t *testing.T, a, b Snapshot) string {
	t.Helper()
	return cmp.Diff(a, b, cmpopts.IgnoreFields(Snapshot{}, "FS")) + cmp.Diff(treeEntries(t, a.FS), treeEntries(t, b.FS))
}
