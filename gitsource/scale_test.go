package gitsource

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
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
	h.next.ServeHTTP(&countingWriter{ResponseWriter: w, n: n}, r)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
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
	if res != Updated || snap.Revision != first || len(snap.Files) != 3 {
		t.Errorf("after reset: %s %s with %d files, want %s with 3", res, snap.Revision, len(snap.Files), first)
	}
	if c := s.counts(); c != (counts{Lists: 3, Fetches: 2, Clones: 1}) {
		t.Errorf("counts %+v, want no fetch for the reset", c)
	}
}
