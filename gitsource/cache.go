package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"
)

const (
	// repoDirName is the bare repository inside Config.CacheDir.
	repoDirName = "repo.git"
	// tempPrefix names clones in progress; they are renamed to repoDirName
	// when complete, so a crash never leaves a half clone behind.
	tempPrefix = "repo.git.tmp-"
	// defaultMaxPacks is how many packfiles (the clone's, and one per
	// defaultMaxLoose objects fetched since) the cache may collect before the
	// next change is cloned afresh instead of fetched, which keeps a
	// long-running daemon's cache small.
	defaultMaxPacks = 50
)

func (s *Source) repoDir() string { return filepath.Join(s.cfg.cacheDir, repoDirName) }

// openCache opens the clone in CacheDir. It returns nil, nil when there is
// none, and removes (with a log line) one that cannot be read.
func (s *Source) openCache() (*git.Repository, error) {
	dir := s.repoDir()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("opening cache %s: %w", dir, err)
	}
	repo, err := checkCache(dir)
	if err != nil {
		return nil, s.discardCache(err)
	}
	s.log.Info("reusing cached clone", zap.String("dir", dir))
	return repo, nil
}

// checkCache opens a cached clone and checks that HEAD and the fetched ref
// resolve to a commit whose tree can be read.
func checkCache(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, err
	}
	if shallow, err := repo.Storer.Shallow(); err != nil || len(shallow) > 0 {
		return nil, fmt.Errorf("the clone is shallow (made by an earlier version); history is needed")
	}
	head, err := repo.Reference(plumbing.HEAD, true)
	if err != nil {
		return nil, fmt.Errorf("resolving HEAD: %w", err)
	}
	if head.Name() != localRef {
		return nil, fmt.Errorf("HEAD points to %s, not %s", head.Name(), localRef)
	}
	commit, err := peelCommit(repo.Storer, head.Hash())
	if err != nil {
		return nil, err
	}
	if _, err := commit.Tree(); err != nil {
		return nil, fmt.Errorf("reading tree of %s: %w", commit.Hash, err)
	}
	return repo, nil
}

// discardCache logs why the cache is unusable and removes it; the next step
// clones afresh. It returns an error only when the removal fails.
func (s *Source) discardCache(reason error) error {
	s.repo = nil
	dir := s.repoDir()
	s.log.Warn("cache is unusable; removing it and cloning again",
		zap.String("dir", dir), zap.String("reason", cleanText(reason, nil)))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing unusable cache %s: %w", dir, err)
	}
	return nil
}

// tempRepo creates an empty bare repository next to the cache, with HEAD
// pointing to localRef, after removing clones that an earlier run left
// unfinished.
func (s *Source) tempRepo() (*git.Repository, string, error) {
	if err := os.MkdirAll(s.cfg.cacheDir, 0o750); err != nil {
		return nil, "", fmt.Errorf("creating cache dir: %w", err)
	}
	s.removeTemps()
	dir, err := os.MkdirTemp(s.cfg.cacheDir, tempPrefix)
	if err != nil {
		return nil, "", fmt.Errorf("creating clone dir: %w", err)
	}
	repo, err := git.PlainInit(dir, true)
	if err == nil {
		err = repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, localRef))
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", fmt.Errorf("initialising clone in %s: %w", dir, err)
	}
	return repo, dir, nil
}

// removeTemps deletes unfinished clones. Only called while holding busy, so
// no straggling operation is writing to them.
func (s *Source) removeTemps() {
	entries, err := os.ReadDir(s.cfg.cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			dir := filepath.Join(s.cfg.cacheDir, e.Name())
			if err := os.RemoveAll(dir); err != nil {
				s.log.Warn("cannot remove unfinished clone", zap.String("dir", dir), zap.Error(err))
			}
		}
	}
}

// install replaces the cache with the complete clone in dir.
func (s *Source) install(dir string) (*git.Repository, error) {
	s.repo = nil
	target := s.repoDir()
	if err := os.RemoveAll(target); err != nil {
		return nil, fmt.Errorf("removing old cache %s: %w", target, err)
	}
	if err := os.Rename(dir, target); err != nil {
		return nil, fmt.Errorf("installing clone as %s: %w", target, err)
	}
	repo, err := git.PlainOpen(target)
	if err != nil {
		return nil, fmt.Errorf("opening new clone %s: %w", target, err)
	}
	return repo, nil
}

// localTip is the hash the cache's branch points to: what was last fetched.
func localTip(repo *git.Repository) (plumbing.Hash, error) {
	ref, err := repo.Reference(localRef, false)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading %s: %w", localRef, err)
	}
	return ref.Hash(), nil
}

// packCount is how many packfiles the cache holds.
func (s *Source) packCount() int {
	entries, err := os.ReadDir(filepath.Join(s.repoDir(), "objects", "pack"))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pack") {
			n++
		}
	}
	return n
}
