package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// Issue 10, failure 6: symbolic links and submodules under --path are never
// read or applied, and are counted as ignored with their reason in the log,
// /status, the page and ca_reconciler_ignored_files; validate reports them
// (and other entries that are not regular files) as notices and still
// exits 0.
func TestHardeningIgnoredEntries(t *testing.T) {
	f := newFixture(t)
	f.repo("good", overlay.Overlay{})
	for _, name := range []string{"link", "escape", "sub"} {
		f.repo(name, overlay.Overlay{Packages: []string{"keep"}})
	}
	f.commit(map[string]string{"ca-images-iac/good.yaml": "contents:\n  packages: [curl]\n"})
	// A link to a good file, a link out of the repository, and a submodule
	// whose name looks like an overlay file.
	if err := os.Symlink("good.yaml", filepath.Join(f.dir, "ca-images-iac", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(f.dir, "ca-images-iac", "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	f.git("add", "-A")
	f.git("update-index", "--add", "--cacheinfo", "160000,0123456789abcdef0123456789abcdef01234567,ca-images-iac/sub.yaml")
	f.git("commit", "-q", "-m", "links and a submodule")

	d := startServing(t, childEnv(), append([]string{"run", "--interval", "1h"}, f.daemonArgs()...)...)
	d.waitUntil("the first cycle", time.Minute, func() bool { return d.cycles("") >= 1 })
	status, _, err := d.get("/status", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	page, _, err := d.get("/", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, reason := range []string{"symlink", "submodule", "irregular"} {
		got[reason] = d.metric("ca_reconciler_ignored_files", `reason="`+reason+`"`)
	}
	d.stop()
	if diff := cmp.Diff(map[string]float64{"symlink": 2, "submodule": 1, "irregular": 0}, got); diff != "" {
		t.Errorf("ca_reconciler_ignored_files (-want +got):\n%s", diff)
	}
	for _, want := range []struct{ file, reason string }{
		{"ca-images-iac/link.yaml", "symlink"}, {"ca-images-iac/escape.yaml", "symlink"}, {"ca-images-iac/sub.yaml", "submodule"},
	} {
		if n := d.stderr.count("file ignored", map[string]string{"file": want.file, "reason": want.reason}); n != 1 {
			t.Errorf("%d log lines of %s ignored as %s, want 1", n, want.file, want.reason)
		}
		if !strings.Contains(status, want.file) || !strings.Contains(page, want.file) {
			t.Errorf("%s is missing from /status or the page", want.file)
		}
	}
	if strings.Contains(status+page+d.stderr.String(), "root:x:0:0") {
		t.Error("the link out of the repository was followed")
	}
	for _, name := range []string{"link", "escape", "sub"} {
		if got := overlaypb.FromProto(f.emu.Repo(f.repoID(name)).GetCustomOverlay()); !overlay.Equal(got, overlay.Overlay{Packages: []string{"keep"}}) {
			t.Errorf("repo %s was written from an ignored entry: %+v", name, got)
		}
	}
	if got := overlaypb.FromProto(f.emu.Repo(f.repoID("good")).GetCustomOverlay()); !overlay.Equal(got, overlay.Overlay{Packages: []string{"curl"}}) {
		t.Errorf("the good file was not applied: %+v", got)
	}

	// validate of the work tree: the links, and a FIFO, as notices; exit 0.
	dir := filepath.Join(f.dir, "ca-images-iac")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := runChild(t, childEnv(), "validate", dir)
	if code := c.exitCode(); code != 0 {
		t.Errorf("validate: exit %d, want 0\n%s%s", code, c.stdout.String(), c.stderr.String())
	}
	want := dir + "/escape.yaml: notice: ignored: symbolic link; links are never followed\n" +
		dir + "/link.yaml: notice: ignored: symbolic link; links are never followed\n" +
		dir + "/pipe.yaml: notice: ignored: not a regular file\n"
	if diff := cmp.Diff(want, c.stdout.String()); diff != "" {
		t.Errorf("validate's output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("0 error(s), 0 warning(s), 3 ignored\n", c.stderr.String()); diff != "" {
		t.Errorf("validate's summary (-want +got):\n%s", diff)
	}
}

// Issue 10, failure 6: a cache folder replaced by a file, or a clone whose
// objects are gone, is removed and cloned again with a log line, and the
// cycle succeeds; a --cache-dir that is itself a file is a clear error that
// names the flag, and the file is left alone.
func TestHardeningCacheRecovery(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	base := t.TempDir()
	args := []string{"run", "--once", "--listen", "127.0.0.1:0", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", base, "--log-format", "json"}
	if c := runChild(t, childEnv(), args...); c.exitCode() != 0 {
		t.Fatalf("first run: exit %d\n%s", c.exitCode(), c.stderr.String())
	}
	cache := cacheDirFor(base, f.dir, "")
	for _, tc := range []struct {
		name   string
		break_ func() error
		log    string
	}{
		{"folder replaced by a file", func() error {
			if err := os.RemoveAll(cache); err != nil {
				return err
			}
			return os.WriteFile(cache, []byte("not a folder"), 0o644)
		}, "cache folder is not a folder; replacing it"},
		{"clone replaced by a file", func() error {
			repo := filepath.Join(cache, "repo.git")
			if err := os.RemoveAll(repo); err != nil {
				return err
			}
			return os.WriteFile(repo, []byte("not a clone"), 0o644)
		}, "cache is unusable; removing it and cloning again"},
		{"objects gone", func() error {
			return os.RemoveAll(filepath.Join(cache, "repo.git", "objects"))
		}, "cache is unusable; removing it and cloning again"},
	} {
		if err := tc.break_(); err != nil {
			t.Fatal(err)
		}
		c := runChild(t, childEnv(), args...)
		if code := c.exitCode(); code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s", tc.name, code, c.stderr.String())
		}
		if n := c.stderr.count(tc.log, nil); n != 1 {
			t.Errorf("%s: %d lines %q, want 1\n%s", tc.name, n, tc.log, c.stderr.String())
		}
	}

	file := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := runChild(t, childEnv(), "run", "--once", "--listen", "127.0.0.1:0", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", file, "--log-format", "json")
	if code := c.exitCode(); code != 1 {
		t.Errorf("--cache-dir a file: exit %d, want 1", code)
	}
	if !strings.Contains(c.stderr.String(), "--cache-dir") {
		t.Errorf("--cache-dir a file: the error does not name the flag:\n%s", c.stderr.String())
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("--cache-dir a file: the file was changed: %q %v", b, err)
	}
}
