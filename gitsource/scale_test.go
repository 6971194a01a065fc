package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/internal/bytecount"
)

// countingHandler counts the bytes of upload-pack responses (the packs and
// acknowledgements a fetch receives) and of ref advertisements.
type countingHandler struct {
	next                http.Handler
	packBytes, advBytes atomic.Int64
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := &h.advBytes
	if r.Method == http.MethodPost {
		n = &h.packBytes
	}
	h.next.ServeHTTP(&bytecount.Writer{ResponseWriter: w, N: n}, r)
}

// manyFiles writes n overlay-like files under dir of the upstream, with the
// git CLI (go-git would take longer than the test).
func manyFiles(t *testing.T, u *upstream, dir string, n int) {
	t.Helper()
	root := filepath.Join(u.dir, dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := fmt.Sprintf("contents:\n  packages: [pkg-%d, curl]\n", i)
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("repo-%04d.yaml", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIncrementalFetchBytes: a one-file push to a folder of 5,000 files is
// fetched over git http-backend with a few hundred bytes of pack, not the
// folder again. (go-git's shallow depth-1 fetch took 363,732 bytes of pack
// here; an unshallow go-git fetch 119,883, the folder's tree object, because
// go-git never asks for a thin pack.)
func TestIncrementalFetchBytes(t *testing.T) {
	up := newUpstream(t, nil)
	manyFiles(t, up, "ca-images-iac", 5000)
	up.commit("5,000 files", nil)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	counter := &countingHandler{next: backend.handler}
	srv := httptest.NewServer(counter)
	defer srv.Close()

	s, _ := newTestSource(t, Config{URL: srv.URL + "/upstream", Path: "ca-images-iac"})
	fetch(t, s)
	clonePack := counter.packBytes.Load()
	for i := range 3 {
		head := up.commit("one file", map[string]string{fmt.Sprintf("ca-images-iac/repo-%04d.yaml", 7+i): "contents:\n  packages: [jq]\n"})
		beforeWire, beforePack := counter.packBytes.Load(), s.Stats().PackBytes
		snap, res := fetch(t, s)
		if res != Updated || snap.Revision != head {
			t.Fatalf("push %d: %s %s, want %s", i, res, snap.Revision, head)
		}
		wire, pack := counter.packBytes.Load()-beforeWire, s.Stats().PackBytes-beforePack
		t.Logf("push %d: %d bytes of upload-pack response, %d of pack (clone: %d)", i, wire, pack, clonePack)
		if wire > 10_000 || pack > 10_000 {
			t.Errorf("push %d fetched %d bytes (%d of pack), want at most 10 KB", i, wire, pack)
		}
	}
	if n := packs(t, s); n != 1 {
		t.Errorf("cache holds %d packs after three pushes, want the clone's one", n)
	}
	if c := s.counts(); c != (counts{Lists: 4, Fetches: 4, Clones: 1}) {
		t.Errorf("counts %+v", c)
	}
}

// TestShallowCacheIsReplaced: a shallow clone left by an earlier version
// cannot answer history questions or negotiate a small fetch; it is removed
// and cloned again.
func TestShallowCacheIsReplaced(t *testing.T) {
	up := newUpstream(t, seedFiles)
	up.commit("second", map[string]string{"ca-images-iac/x.yaml": "x\n"})
	cache := t.TempDir()
	repoDir := filepath.Join(cache, repoDirName)
	runGit(t, "", "clone", "-q", "--bare", "--depth", "1", "file://"+up.dir, repoDir)
	runGit(t, repoDir, "update-ref", string(localRef), up.head())
	runGit(t, repoDir, "symbolic-ref", "HEAD", string(localRef))

	s, logs := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", CacheDir: cache})
	snap, _ := fetch(t, s)
	if snap.Revision != up.head() {
		t.Errorf("revision %s, want %s", snap.Revision, up.head())
	}
	entries := logs.FilterMessage("cache is unusable; removing it and cloning again").All()
	if len(entries) != 1 || entries[0].ContextMap()["reason"] != "the clone is shallow (made by an earlier version); history is needed" {
		t.Errorf("log entries %v, want one naming the shallow clone", entries)
	}
	if c := s.counts(); c.Clones != 1 {
		t.Errorf("counts %+v, want one clone", c)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "shallow")); !os.IsNotExist(err) {
		t.Errorf("the new cache is shallow: %v", err)
	}
}

// TestRefMovesBackWithoutFetching: a branch reset to a commit the cache
// already holds is served from the cache; only ls-remote goes to the network.
func TestRefMovesBackWithoutFetching(t *testing.T) {
	up := newUpstream(t, seedFiles)
	first := up.head()
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac"})
	fetch(t, s)
	up.commit("second", map[string]string{"ca-images-iac/x.yaml": "x\n"})
	fetch(t, s)
	runGit(t, up.dir, "reset", "-q", "--hard", first)
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != first || len(files(snap)) != 3 {
		t.Errorf("after reset: %s %s with %d files, want %s with 3", res, snap.Revision, len(files(snap)), first)
	}
	if c := s.counts(); c != (counts{Lists: 3, Fetches: 2, Clones: 1}) {
		t.Errorf("counts %+v, want no fetch for the reset", c)
	}
}

// TestTreeLifetime: a snapshot's tree stays readable across later fetches
// and the packing of loose objects, and refuses reads once the cache has been
// cloned afresh.
func TestTreeLifetime(t *testing.T) {
	up := newUpstream(t, map[string]string{"a": "0\n"})
	s, _ := newTestSource(t, Config{URL: up.dir})
	s.cfg.maxLoose, s.cfg.maxPacks = 3, 3
	snap0, _ := fetch(t, s)
	var snaps []Snapshot
	for i := range 2 { // each push's objects are packed at once
		up.commit("change", map[string]string{"a": fmt.Sprintf("%d\n", i+1)})
		snap, _ := fetch(t, s)
		snaps = append(snaps, snap)
	}
	for i, snap := range append([]Snapshot{snap0}, snaps...) {
		if got, err := fs.ReadFile(snap.FS, "a"); err != nil || string(got) != fmt.Sprintf("%d\n", i) {
			t.Errorf("snapshot %d after later fetches: %q %v", i, got, err)
		}
	}
	if c := s.counts(); c.Clones != 1 || packs(t, s) != 3 {
		t.Fatalf("counts %+v, %d packs; want one clone and 3 packs", c, packs(t, s))
	}

	up.commit("change", map[string]string{"a": "3\n"})
	last, _ := fetch(t, s) // 3 packs: cloned afresh
	if c := s.counts(); c.Clones != 2 {
		t.Fatalf("counts %+v, want a second clone", c)
	}
	_, err := fs.ReadFile(snap0.FS, "a")
	if !errors.Is(err, ErrSnapshotGone) || err.Error() != "read a: the cache this snapshot was read from has been cloned afresh; fetch again" {
		t.Errorf("reading an old snapshot after a fresh clone: %v", err)
	}
	if _, err := fs.ReadDir(snaps[1].FS, "."); !errors.Is(err, ErrSnapshotGone) {
		t.Errorf("listing an old snapshot after a fresh clone: %v", err)
	}
	if got, err := fs.ReadFile(last.FS, "a"); err != nil || string(got) != "3\n" {
		t.Errorf("the new snapshot: %q %v", got, err)
	}
}

// TestTreeReadsDuringFetch reads an old snapshot's tree from several
// goroutines while Fetch brings in new commits (run with -race).
func TestTreeReadsDuringFetch(t *testing.T) {
	up := newUpstream(t, seedFiles)
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac"})
	s.cfg.maxLoose = 4
	old, _ := fetch(t, s)
	want := treeEntries(t, old.FS)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := fs.ReadFile(old.FS, "team/go.yaml"); err != nil {
					t.Errorf("reading during a fetch: %v", err)
					return
				}
			}
		}()
	}
	for i := range 5 {
		up.commit("change", map[string]string{"ca-images-iac/node.yaml": fmt.Sprintf("n: %d\n", i)})
		fetch(t, s)
	}
	close(done)
	wg.Wait()
	if d := cmp.Diff(want, treeEntries(t, old.FS)); d != "" {
		t.Errorf("old snapshot changed (-before +after):\n%s", d)
	}
}
