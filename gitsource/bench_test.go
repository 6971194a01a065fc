package gitsource

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"go.uber.org/zap"
)

// benchSource clones a 5,000-file, 200-commit repository into a fresh cache.
func benchSource(b *testing.B) (*Source, *upstream) {
	b.Helper()
	up, _ := historyUpstream(b, "ca-images-iac", 5000, 200)
	s, err := New(Config{URL: up.dir, Path: "ca-images-iac", CacheDir: b.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Fetch(b.Context()); err != nil {
		b.Fatal(err)
	}
	return s, up
}

// BenchmarkCompaction compares the ways to keep the cache small at 5,000
// files and 200 commits: packing 1,000 small loose objects, repacking
// everything with go-git, and cloning afresh (what happens after 50 packs).
func BenchmarkCompaction(b *testing.B) {
	s, _ := benchSource(b)
	b.Run("repack all", func(b *testing.B) {
		// go-git's RepackObjects fails ("packfile not found") when run twice
		// on one open repository, so each run gets a fresh clone.
		for b.Loop() {
			b.StopTimer()
			repo, err := s.clone(b.Context(), &call{src: s}, packRequest{name: "refs/heads/main"}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.repo = repo
			b.StartTimer()
			if err := repo.RepackObjects(&git.RepackConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pack 1000 loose", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			for j := range 1000 {
				o := s.repo.Storer.NewEncodedObject()
				o.SetType(plumbing.BlobObject)
				w, _ := o.Writer()
				fmt.Fprintf(w, "contents:\n  packages: [pkg-%d-%d, jq]\n", i, j)
				w.Close()
				if _, err := s.repo.Storer.SetEncodedObject(o); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if n, err := compactLoose(s.repo.Storer, 1000); err != nil || n != 1000 {
				b.Fatalf("compactLoose: %d, %v", n, err)
			}
		}
	})
	b.Run("clone afresh", func(b *testing.B) {
		for b.Loop() {
			repo, err := s.clone(b.Context(), &call{src: s}, packRequest{name: "refs/heads/main"}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.repo = repo
		}
	})
}

// resetHard resets the upstream's work tree to its HEAD.
func resetHard(b *testing.B, up *upstream) {
	b.Helper()
	if out, err := exec.Command("git", "-C", up.dir, "reset", "-q", "--hard").CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
}

// push commits to the upstream a line "x: i" added to file n's YAML.
func push(b *testing.B, up *upstream, n, i int) {
	b.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("echo 'x: %d' >> ca-images-iac/repo-%04d.yaml && git commit -qam push", i, n))
	cmd.Dir, cmd.Env = up.dir, gitEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
}

// BenchmarkOnePushFetch is a Fetch of a one-file push at 5,000 files and 200
// commits: ls-remote, the thin fetch, and reading the snapshot.
func BenchmarkOnePushFetch(b *testing.B) {
	s, up := benchSource(b)
	resetHard(b, up)
	before := s.stats.packBytes.Load()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		push(b, up, 7, i)
		b.StartTimer()
		if _, res, err := s.Fetch(b.Context()); err != nil || res != Updated {
			b.Fatalf("Fetch: %s %v", res, err)
		}
	}
	b.ReportMetric(float64(s.stats.packBytes.Load()-before)/float64(b.N), "packB/op")
}

// BenchmarkCompactPushes packs the loose objects of 64 one-file pushes at
// 5,000 files (each push adds the folder's 5,000-entry tree, ~120 KB loose).
func BenchmarkCompactPushes(b *testing.B) {
	s, up := benchSource(b)
	s.cfg.maxLoose = 1 << 30
	resetHard(b, up)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range 64 {
			push(b, up, j, i)
			if _, _, err := s.Fetch(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		loose, packsBefore := globSize(b, s, "objects/??/*"), globSize(b, s, "objects/pack/*.pack")
		b.StartTimer()
		n, err := compactLoose(s.repo.Storer, 1)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("packed %d loose objects (%d bytes) into %d bytes", n, loose, globSize(b, s, "objects/pack/*.pack")-packsBefore)
		b.StartTimer()
	}
}

// globSize is the total size of the cache's files matching pattern.
func globSize(b *testing.B, s *Source, pattern string) int64 {
	m, err := filepath.Glob(filepath.Join(s.repoDir(), pattern))
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, f := range m {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// BenchmarkEverPaths computes the paths history ever held at 5,000 files and
// 200 commits: from nothing (the first Fetch after a start) and for one new
// commit.
func BenchmarkEverPaths(b *testing.B) {
	s, up := benchSource(b)
	tip, err := localTip(s.repo)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("whole history", func(b *testing.B) {
		for b.Loop() {
			paths, err := newHistory("ca-images-iac").everPaths(s.repo.Storer, tip)
			if err != nil || len(paths) != 5019 {
				b.Fatalf("%d paths, %v", len(paths), err)
			}
		}
	})
	b.Run("one new commit", func(b *testing.B) {
		resetHard(b, up)
		h := newHistory("ca-images-iac")
		if _, err := h.everPaths(s.repo.Storer, tip); err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			push(b, up, 7, i)
			if _, _, err := s.Fetch(b.Context()); err != nil {
				b.Fatal(err)
			}
			next, _ := localTip(s.repo)
			b.StartTimer()
			if paths, err := h.everPaths(s.repo.Storer, next); err != nil || len(paths) != 5019 {
				b.Fatalf("%d paths, %v", len(paths), err)
			}
		}
	})
}
