package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var seedFiles = map[string]string{
	"README.md":                  "# config\n",
	"ca-images-iac/python.yaml":  "contents:\n  packages: [py3-pip]\n",
	"ca-images-iac/node.yaml":    "contents:\n  packages: [nodejs]\n",
	"ca-images-iac/team/go.yaml": "contents:\n  packages: [go]\n",
	"other/ignored.yaml":         "no\n",
}

// TestFetchFollowsBranch walks one Source through the life of a branch served
// from a local path: clone, unchanged, new commit, force-push.
func TestFetchFollowsBranch(t *testing.T) {
	up := newUpstream(t, seedFiles)
	s, _ := newTestSource(t, Config{URL: up.dir, Ref: "main", Path: "ca-images-iac"})

	snap, res := fetch(t, s)
	if res != Updated {
		t.Errorf("first Fetch: result %q, want %q", res, Updated)
	}
	want := map[string]string{
		"node.yaml":    "contents:\n  packages: [nodejs]\n",
		"python.yaml":  "contents:\n  packages: [py3-pip]\n",
		"team/go.yaml": "contents:\n  packages: [go]\n",
	}
	if d := cmp.Diff(want, files(snap)); d != "" {
		t.Errorf("first snapshot files (-want +got):\n%s", d)
	}
	if snap.Revision != up.head() || snap.Ref != "refs/heads/main" || snap.Author != "Ada Author <ada@example.com>" || snap.CommitTime.IsZero() {
		t.Errorf("snapshot metadata = %q %q %q %v, want %q refs/heads/main", snap.Revision, snap.Ref, snap.Author, snap.CommitTime, up.head())
	}
	if got := s.counts(); got != (counts{Lists: 1, Fetches: 1, Clones: 1}) {
		t.Errorf("after first Fetch: %+v", got)
	}
	if n := packs(t, s); n != 1 {
		t.Errorf("cache holds %d packs, want 1", n)
	}

	// Unchanged: only ls-remote, the same snapshot, no new objects.
	again, res := fetch(t, s)
	if res != Unchanged {
		t.Errorf("second Fetch: result %q, want %q", res, Unchanged)
	}
	if d := cmp.Diff(snap, again); d != "" {
		t.Errorf("unchanged snapshot differs (-first +second):\n%s", d)
	}
	if got := s.counts(); got != (counts{Lists: 2, Fetches: 1, Clones: 1}) {
		t.Errorf("after unchanged Fetch: %+v", got)
	}
	if n := packs(t, s); n != 1 {
		t.Errorf("unchanged Fetch added objects: %d packs", n)
	}

	// A new commit: edit, add nested, delete; fetched into the cache.
	second := up.commit("second", map[string]string{
		"ca-images-iac/python.yaml":   "contents:\n  packages: [py3-pip, py3-setuptools]\n",
		"ca-images-iac/node.yaml":     "",
		"ca-images-iac/a/b/deep.yaml": "deep\n",
	})
	wantUpdate(t, s, "new commit", second, map[string]string{
		"a/b/deep.yaml": "deep\n",
		"python.yaml":   "contents:\n  packages: [py3-pip, py3-setuptools]\n",
		"team/go.yaml":  "contents:\n  packages: [go]\n",
	})
	if got := s.counts(); got != (counts{Lists: 3, Fetches: 2, Clones: 1}) {
		t.Errorf("after new commit: %+v (want one more fetch, no clone)", got)
	}

	// Force-push: the branch moves to a commit that does not descend from
	// the one the cache has.
	runGit(t, up.dir, "reset", "-q", "--hard", "HEAD~1")
	forced := up.commit("rewritten", map[string]string{"ca-images-iac/rewritten.yaml": "x: 1\n"})
	if !wantUpdate(t, s, "force-push", forced, map[string]string{
		"node.yaml":      "contents:\n  packages: [nodejs]\n",
		"python.yaml":    "contents:\n  packages: [py3-pip]\n",
		"rewritten.yaml": "x: 1\n",
		"team/go.yaml":   "contents:\n  packages: [go]\n",
	}) {
		t.FailNow()
	}
	if _, ok := s.LastVerified(); !ok {
		t.Error("LastVerified has nothing without a keyring")
	}
}

// wantUpdate fetches s after the step named when: the Fetch must be
// Updated to rev, with exactly the files want. It reports whether the
// result and revision were right.
func wantUpdate(t *testing.T, s *Source, when, rev string, want map[string]string) bool {
	t.Helper()
	snap, res := fetch(t, s)
	ok := res == Updated && snap.Revision == rev
	if !ok {
		t.Errorf("after %s: %q %s, want %q %s", when, res, snap.Revision, Updated, rev)
	}
	if d := cmp.Diff(want, files(snap)); d != "" {
		t.Errorf("files after %s (-want +got):\n%s", when, d)
	}
	return ok
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// objectFiles counts the files objects/dir/name (a glob) in the Source's
// cache.
func objectFiles(t *testing.T, s *Source, dir, name string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.repoDir(), "objects", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// packs counts the packfiles in the Source's cache.
func packs(t *testing.T, s *Source) int {
	t.Helper()
	return objectFiles(t, s, "pack", "*.pack")
}

// TestFetchFileURLAndRemoteHEAD serves over file:// and leaves Ref empty, so
// the remote's HEAD decides the branch; Path "" returns the whole tree.
func TestFetchFileURLAndRemoteHEAD(t *testing.T) {
	up := newUpstream(t, map[string]string{"a.yaml": "a\n", "dir/b.yaml": "b\n"})
	s, _ := newTestSource(t, Config{URL: "file://" + up.dir})
	snap, _ := fetch(t, s)
	if snap.Ref != "refs/heads/main" {
		t.Errorf("Ref = %q, want refs/heads/main", snap.Ref)
	}
	if d := cmp.Diff(map[string]string{"a.yaml": "a\n", "dir/b.yaml": "b\n"}, files(snap)); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}

	// The remote's HEAD switches to another branch.
	runGit(t, up.dir, "checkout", "-q", "-b", "release")
	rel := up.commit("release", map[string]string{"a.yaml": "release\n"})
	snap, res := fetch(t, s)
	if res != Updated || snap.Ref != "refs/heads/release" || snap.Revision != rel {
		t.Errorf("after HEAD moved to release: %q %q %s", res, snap.Ref, snap.Revision)
	}
}

// TestFetchFollowsMovedTag resolves a tag name, annotated and lightweight,
// and follows it when it is moved (git tag -f).
func TestFetchFollowsMovedTag(t *testing.T) {
	up := newUpstream(t, map[string]string{"cfg/a.yaml": "v1\n"})
	first := up.head()
	runGit(t, up.dir, "tag", "-a", "-m", "release 1", "v1")
	runGit(t, up.dir, "tag", "light")

	annotated, _ := newTestSource(t, Config{URL: up.dir, Ref: "v1", Path: "cfg"})
	light, _ := newTestSource(t, Config{URL: up.dir, Ref: "light", Path: "cfg"})
	for _, s := range []*Source{annotated, light} {
		snap, res := fetch(t, s)
		if res != Updated || snap.Revision != first || files(snap)["a.yaml"] != "v1\n" {
			t.Errorf("%s: %q %s %v, want the tagged commit %s", s.cfg.target.given, res, snap.Revision, files(snap), first)
		}
	}
	if snap, _ := fetch(t, annotated); snap.Ref != "refs/tags/v1" {
		t.Errorf("Ref = %q, want refs/tags/v1", snap.Ref)
	}

	second := up.commit("two", map[string]string{"cfg/a.yaml": "v2\n"})
	runGit(t, up.dir, "tag", "-f", "-a", "-m", "release 1, again", "v1")
	runGit(t, up.dir, "tag", "-f", "light")
	for _, s := range []*Source{annotated, light} {
		snap, res := fetch(t, s)
		if res != Updated || snap.Revision != second || files(snap)["a.yaml"] != "v2\n" {
			t.Errorf("%s after move: %q %s %v, want %s", s.cfg.target.given, res, snap.Revision, files(snap), second)
		}
		if _, res := fetch(t, s); res != Unchanged {
			t.Errorf("%s: third Fetch %q, want unchanged", s.cfg.target.given, res)
		}
	}
}

// TestFetchCommitHash pins a commit that is no longer a ref tip. Plain
// git-upload-pack refuses to send it by hash, so the first Source falls back
// to a full fetch; a server that allows it is asked by hash directly.
func TestFetchCommitHash(t *testing.T) {
	up := newUpstream(t, map[string]string{"cfg/a.yaml": "old\n"})
	old := up.head()
	up.commit("new", map[string]string{"cfg/a.yaml": "new\n"})

	s, logs := newTestSource(t, Config{URL: up.dir, Ref: old, Path: "cfg"})
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != old || snap.Ref != old || files(snap)["a.yaml"] != "old\n" {
		t.Errorf("pinned commit: %q %s %s %v", res, snap.Revision, snap.Ref, files(snap))
	}
	if !hasLog(logs, "server would not send the commit by hash; fetching all branches and tags to find it") {
		t.Error("no log line for the fallback to a full fetch")
	}
	before := s.counts()
	if _, res := fetch(t, s); res != Unchanged {
		t.Errorf("second Fetch of a commit: %q, want unchanged", res)
	}
	if after := s.counts(); after != before {
		t.Errorf("a pinned commit caused network work: %+v -> %+v", before, after)
	}

	runGit(t, up.dir, "config", "uploadpack.allowAnySHA1InWant", "true")
	direct, logs := newTestSource(t, Config{URL: up.dir, Ref: old, Path: "cfg"})
	if snap, _ := fetch(t, direct); snap.Revision != old {
		t.Errorf("by hash: revision %s, want %s", snap.Revision, old)
	}
	if hasLog(logs, "server would not send the commit by hash; fetching all branches and tags to find it") || direct.counts().Fetches != 1 {
		t.Errorf("a server allowing any SHA-1 in want still needed the fallback (%+v)", direct.counts())
	}

	missing, _ := newTestSource(t, Config{URL: up.dir, Ref: "0123456789abcdef0123456789abcdef01234567"})
	if err := fetchErr(t, missing); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("unknown commit: %v, want ErrRefNotFound", err)
	}
}

// TestCacheSurvivesRestart makes a second Source on the same CacheDir, as a
// restarted daemon would: it reads the cache without fetching.
func TestCacheSurvivesRestart(t *testing.T) {
	up := newUpstream(t, seedFiles)
	cache := t.TempDir()
	first, _ := newTestSource(t, Config{URL: up.dir, Ref: "main", Path: "ca-images-iac", CacheDir: cache})
	snap1, _ := fetch(t, first)

	second, logs := newTestSource(t, Config{URL: up.dir, Ref: "main", Path: "ca-images-iac", CacheDir: cache})
	snap2, res := fetch(t, second)
	if res != Updated {
		t.Errorf("first Fetch after restart: %q, want %q", res, Updated)
	}
	if d := diffSnapshots(t, snap1, snap2); d != "" {
		t.Errorf("snapshot after restart differs (-before +after):\n%s", d)
	}
	if got := second.counts(); got != (counts{Lists: 1}) {
		t.Errorf("restart with an up-to-date cache: %+v, want only ls-remote", got)
	}
	if !hasLog(logs, "reusing cached clone") {
		t.Error("no log line for reusing the cache")
	}

	next := up.commit("next", map[string]string{"ca-images-iac/new.yaml": "n\n"})
	third, _ := newTestSource(t, Config{URL: up.dir, Ref: "main", Path: "ca-images-iac", CacheDir: cache})
	snap3, _ := fetch(t, third)
	if snap3.Revision != next || files(snap3)["new.yaml"] != "n\n" {
		t.Errorf("after restart and a new commit: %s %v", snap3.Revision, files(snap3))
	}
	if got := third.counts(); got != (counts{Lists: 1, Fetches: 1}) {
		t.Errorf("restart with a stale cache: %+v, want one fetch and no clone", got)
	}
}

// TestCorruptCacheIsRecloned breaks the cache in several ways between
// restarts; each time the next Source logs, removes it and clones again.
func TestCorruptCacheIsRecloned(t *testing.T) {
	up := newUpstream(t, seedFiles)
	corruptions := map[string]func(t *testing.T, repo string){
		"garbage HEAD": func(t *testing.T, repo string) {
			writeFile(t, filepath.Join(repo, "HEAD"), "\x00garbage\n")
		},
		"truncated pack": func(t *testing.T, repo string) {
			m, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
			if len(m) == 0 {
				t.Fatal("no pack to truncate")
			}
			for _, p := range m {
				chmod(t, p, 0o644) // packs are read-only, which stops all but root
				if err := os.Truncate(p, 40); err != nil {
					t.Fatal(err)
				}
			}
		},
		"corrupt blob": func(t *testing.T, repo string) {
			// Commit and trees stay readable; one file's data is garbled,
			// so the damage only shows when the snapshot is read.
			blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(seedFiles["ca-images-iac/python.yaml"]))
			garbleObject(t, repo, blob)
		},
		"branch points nowhere": func(t *testing.T, repo string) {
			writeFile(t, filepath.Join(repo, "refs", "heads", "gitsource"), "0123456789abcdef0123456789abcdef01234567\n")
		},
		"not a repository": func(t *testing.T, repo string) {
			if err := os.RemoveAll(repo); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(repo, "junk"), "junk")
		},
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			good, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", CacheDir: cache})
			want, _ := fetch(t, good)
			wantFiles := files(want)
			corrupt(t, good.repoDir())

			s, logs := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", CacheDir: cache})
			got, res := fetch(t, s)
			if res != Updated {
				t.Errorf("result %q", res)
			}
			if name == "corrupt blob" {
				// Fetch reads no file: the damage shows when the file is
				// read, and the next Fetch clones afresh.
				if hasLog(logs, "cache is unusable; removing it and cloning again") {
					t.Error("the cache was found broken before any file was read")
				}
				if _, err := fs.ReadFile(got.FS, "python.yaml"); err == nil {
					t.Fatal("reading the garbled file succeeded")
				}
				var again Result
				got, again = fetch(t, s)
				if again != Updated {
					t.Errorf("Fetch after the damage: %q, want %q", again, Updated)
				}
			}
			if d := cmp.Diff(want, got, cmpopts.IgnoreFields(Snapshot{}, "FS")) + cmp.Diff(wantFiles, files(got)); d != "" {
				t.Errorf("snapshot after recovery (-want +got):\n%s", d)
			}
			if !hasLog(logs, "cache is unusable; removing it and cloning again") {
				t.Error("no log line for the corrupt cache")
			}
			if c := s.counts(); c.Clones != 1 {
				t.Errorf("counts %+v, want one clone", c)
			}
			entries, _ := os.ReadDir(cache)
			if len(entries) != 1 || entries[0].Name() != repoDirName {
				t.Errorf("cache dir holds %v, want only %s", entries, repoDirName)
			}
		})
	}
}

// garbleObject overwrites the compressed data of object h in the cache's
// packfile.
func garbleObject(t *testing.T, repo string, h plumbing.Hash) {
	t.Helper()
	idxs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.idx"))
	for _, name := range idxs {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		idx := idxfile.NewMemoryIndex()
		err = idxfile.NewDecoder(f).Decode(idx)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		off, err := idx.FindOffset(h)
		if err != nil {
			continue
		}
		chmod(t, strings.TrimSuffix(name, ".idx")+".pack", 0o644)
		pack, err := os.OpenFile(strings.TrimSuffix(name, ".idx")+".pack", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer pack.Close()
		if _, err := pack.WriteAt([]byte("garbage!"), off+4); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("object %s is in no pack", h)
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPathErrors: a folder that is missing or is a file fails the Fetch
// rather than returning an empty snapshot.
func TestPathErrors(t *testing.T) {
	up := newUpstream(t, map[string]string{"ca-images-iac": "a file\n", "x/y.yaml": "y\n"})
	for _, p := range []string{"ca-images-iac", "missing", "x/y.yaml", "x/y.yaml/z"} {
		s, _ := newTestSource(t, Config{URL: up.dir, Path: p})
		if err := fetchErr(t, s); !errors.Is(err, ErrPathNotFound) {
			t.Errorf("Path %q: %v, want ErrPathNotFound", p, err)
		}
	}
	// The folder disappears in a later commit: an error, and the cache is
	// not thrown away for it.
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "/x/"})
	if snap, _ := fetch(t, s); files(snap)["y.yaml"] != "y\n" {
		t.Fatalf("Path /x/: %v", files(snap))
	}
	up.commit("remove x", map[string]string{"x/y.yaml": ""})
	if err := fetchErr(t, s); !errors.Is(err, ErrPathNotFound) {
		t.Errorf("after the folder was deleted: %v, want ErrPathNotFound", err)
	}
	if c := s.counts(); c.Clones != 1 {
		t.Errorf("counts %+v: a missing folder caused a re-clone", c)
	}
}

// TestSymlinksAndSubmodulesAreSkipped keeps only regular files.
func TestSymlinksAndSubmodulesAreSkipped(t *testing.T) {
	up := newUpstream(t, map[string]string{"d/real.yaml": "r\n", "d/run.sh": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(up.dir, "d", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.yaml", filepath.Join(up.dir, "d", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	sub := newUpstream(t, map[string]string{"s": "s\n"})
	runGit(t, up.dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.dir, "d/sub")
	up.commit("links", nil)

	s, _ := newTestSource(t, Config{URL: up.dir, Path: "d"})
	snap, _ := fetch(t, s)
	if d := cmp.Diff(map[string]string{"real.yaml": "r\n", "run.sh": "#!/bin/sh\n"}, files(snap)); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}

	// The FS has every entry, with its type.
	entries, err := fs.ReadDir(snap.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range entries {
		info, _ := e.Info()
		listed = append(listed, fmt.Sprintf("%s %v %v", e.Name(), e.Type(), info.Mode()))
	}
	want := []string{"link.yaml L--------- Lrwxrwxrwx", "real.yaml ---------- -rw-r--r--", "run.sh ---------- -rwxr-xr-x", "sub ?--------- ?---------"}
	if d := cmp.Diff(want, listed); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	for _, tc := range []struct{ name, want string }{
		{"link.yaml", "read link.yaml: not a regular file: symbolic link, never followed"},
		{"sub", "read sub: not a regular file: submodule, its files are in another repository"},
		{"sub/s", "read sub/s: file does not exist"},
		{"missing.yaml", "read missing.yaml: file does not exist"},
		{"../d/real.yaml", "read ../d/real.yaml: invalid argument"},
	} {
		_, err := fs.ReadFile(snap.FS, tc.name)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ReadFile(%s): %v, want %s", tc.name, err, tc.want)
		}
		if _, err := snap.FS.Open(tc.name); err == nil {
			t.Errorf("Open(%s) succeeded", tc.name)
		}
	}
	if _, err := snap.FS.Open("link.yaml"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(link.yaml): %v, want ErrNotRegular", err)
	}
	tree := snap.FS.(*Tree)
	for name, want := range map[string]string{
		"real.yaml": runGit(t, up.dir, "rev-parse", "HEAD:d/real.yaml"),
		"run.sh":    runGit(t, up.dir, "rev-parse", "HEAD:d/run.sh"),
		"link.yaml": "", "sub": "", ".": "", "nope": "",
	} {
		got, ok := tree.BlobHash(name)
		if got != want || ok != (want != "") {
			t.Errorf("BlobHash(%s) = %q %v, want %q", name, got, ok, want)
		}
	}
}

// TestTreeFS runs the standard library's file system checks on a snapshot's
// tree: nested folders and an executable.
func TestTreeFS(t *testing.T) {
	up := newUpstream(t, map[string]string{
		"cfg/a.yaml": "a\n", "cfg/b/c.yaml": "c\n", "cfg/b/d/e.yml": "e\n", "cfg/run.sh": "#!/bin/sh\n",
		"other/x": "x\n",
	})
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "cfg"})
	snap, _ := fetch(t, s)
	if err := fstest.TestFS(snap.FS, "a.yaml", "b/c.yaml", "b/d/e.yml", "run.sh"); err != nil {
		t.Error(err)
	}
}

// TestRefNotFound names a branch the remote does not have.
func TestRefNotFound(t *testing.T) {
	up := newUpstream(t, map[string]string{"a": "a\n"})
	s, _ := newTestSource(t, Config{URL: up.dir, Ref: "nope"})
	err := fetchErr(t, s)
	if !errors.Is(err, ErrRefNotFound) {
		t.Fatalf("error %v, want ErrRefNotFound", err)
	}
	want := `resolving ref "nope" of ` + up.dir + `: ref not found: no branch or tag nope on the remote`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	gone, _ := newTestSource(t, Config{URL: filepath.Join(t.TempDir(), "absent")})
	if err := fetchErr(t, gone); err == nil {
		t.Error("a missing repository did not fail")
	}
}

// TestCacheCompaction: each push adds its few objects loose, not a pack;
// once maxLoose are loose they are packed into one packfile; once maxPacks
// packfiles have collected, the next change is cloned afresh.
func TestCacheCompaction(t *testing.T) {
	up := newUpstream(t, map[string]string{"a": "0\n"})
	s, logs := newTestSource(t, Config{URL: up.dir})
	s.cfg.maxLoose, s.cfg.maxPacks = 6, 3
	fetch(t, s)
	type state struct{ Packs, Loose, Clones int }
	var got []state
	for i := range 5 {
		// One blob, one tree and one commit per push.
		head := up.commit("change", map[string]string{"a": string(rune('1'+i)) + "\n"})
		if snap, _ := fetch(t, s); snap.Revision != head {
			t.Fatalf("change %d: revision %s, want %s", i, snap.Revision, head)
		}
		got = append(got, state{packs(t, s), looseObjects(t, s), int(s.counts().Clones)})
	}
	want := []state{
		{1, 3, 1},
		{2, 0, 1}, // 6 loose objects packed
		{2, 3, 1},
		{3, 0, 1},
		{1, 0, 2}, // 3 packs: cloned afresh
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cache after each push (-want +got):\n%s", d)
	}
	if !hasLog(logs, "cache holds many packfiles; cloning afresh to compact it") {
		t.Error("no log line for the fresh clone")
	}
}

// looseObjects counts the loose objects in the Source's cache.
func looseObjects(t *testing.T, s *Source) int {
	t.Helper()
	return objectFiles(t, s, "??", "*")
}

// TestConcurrentFetch: Fetch calls on one Source wait for each other.
func TestConcurrentFetch(t *testing.T) {
	up := newUpstream(t, seedFiles)
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac"})
	var wg sync.WaitGroup
	results := make([]Result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, res, err := s.Fetch(context.Background())
			if err != nil || snap.Revision != up.head() {
				t.Errorf("concurrent Fetch: %v %s", err, snap.Revision)
			}
			results[i] = res
			s.LastVerified()
		}()
	}
	wg.Wait()
	slices.Sort(results)
	if want := []Result{Unchanged, Unchanged, Unchanged, Updated}; !slices.Equal(results, want) {
		t.Errorf("results %v, want %v", results, want)
	}
	if c := s.counts(); c.Clones != 1 {
		t.Errorf("counts %+v, want one clone", c)
	}
}

// TestFetchIntoBrokenCacheReclones breaks the cache under a running Source:
// the fetch into it fails, and a fresh clone takes its place.
func TestFetchIntoBrokenCacheReclones(t *testing.T) {
	up := newUpstream(t, seedFiles)
	s, logs := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac"})
	fetch(t, s)
	// The pack folder becomes a file: nothing can be read or written.
	packDir := filepath.Join(s.repoDir(), "objects", "pack")
	if err := os.RemoveAll(packDir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, packDir, "not a folder")

	next := up.commit("next", map[string]string{"ca-images-iac/next.yaml": "n\n"})
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != next || files(snap)["next.yaml"] != "n\n" {
		t.Errorf("after a broken cache: %q %s %v", res, snap.Revision, files(snap))
	}
	if !hasLog(logs, "fetching into the cache failed; cloning afresh") {
		t.Error("no log line for the recovery")
	}
	if c := s.counts(); c.Clones != 2 {
		t.Errorf("counts %+v, want a second clone", c)
	}
}
