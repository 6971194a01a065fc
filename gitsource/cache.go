package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
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
// none, and removes (with a log line) one that cannot be read, or anything
// else in its place.
func (s *Source) openCache() (*git.Repository, error) {
	if err := s.prepareCacheDir(); err != nil {
		return nil, err
	}
	dir := s.repoDir()
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
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
	repo, err := openRepo(dir)
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
	s.gen.Add(1)
	dir := s.repoDir()
	s.log.Warn("cache is unusable; removing it and cloning again",
		zap.String("dir", dir), zap.String("reason", cleanText(reason, nil)))
	if err := forceRemove(dir); err != nil {
		return fmt.Errorf("removing unusable cache %s: %w", dir, err)
	}
	return nil
}

// prepareCacheDir makes Config.CacheDir a folder this process can use: a
// file (or anything but a folder) in its place is removed, and a folder its
// owner may not read, write or enter gets those permissions back, each with a
// log line. It fails, naming the folder, only when neither helps.
func (s *Source) prepareCacheDir() error {
	dir := s.cfg.cacheDir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && !fi.IsDir():
		s.log.Warn("cache folder is not a folder; replacing it", zap.String("dir", dir), zap.Stringer("mode", fi.Mode()))
		if err := forceRemove(dir); err != nil {
			return s.cacheDirError(err)
		}
	case err != nil:
		return s.cacheDirError(err)
	case fi.Mode().Perm()&0o700 != 0o700:
		s.log.Warn("cache folder lacks permissions; restoring them", zap.String("dir", dir), zap.Stringer("mode", fi.Mode().Perm()))
		if err := os.Chmod(dir, fi.Mode().Perm()|0o700); err != nil {
			return s.cacheDirError(err)
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return s.cacheDirError(err)
	}
	// The folder must take a new file.
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return s.cacheDirError(err)
	}
	_ = f.Close()
	return os.Remove(f.Name())
}

func (s *Source) cacheDirError(err error) error {
	return fmt.Errorf("cache folder %s (%s) is not usable: %w", s.cfg.cacheDir, s.cfg.names.of(FieldCacheDir), err)
}

// forceRemove removes path and everything below it, giving folders their
// owner's permissions first when that is what stops the removal.
func forceRemove(path string) error {
	err := os.RemoveAll(path)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	makeRemovable(path)
	return os.RemoveAll(path)
}

// makeRemovable gives path, when it is a folder, and every folder below it
// read, write and search permission for their owner, top down.
func makeRemovable(path string) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return
	}
	_ = os.Chmod(path, 0o700)
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		makeRemovable(filepath.Join(path, e.Name()))
	}
}

// tempRepo creates an empty bare repository next to the cache, with HEAD
// pointing to localRef, after removing clones that an earlier run left
// unfinished.
func (s *Source) tempRepo() (*git.Repository, string, error) {
	if err := s.prepareCacheDir(); err != nil {
		return nil, "", err
	}
	s.removeTemps()
	dir, err := os.MkdirTemp(s.cfg.cacheDir, tempPrefix)
	if err != nil {
		return nil, "", fmt.Errorf("creating clone dir: %w", err)
	}
	repo, err := git.Init(newStorage(dir), nil)
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
	s.gen.Add(1)
	target := s.repoDir()
	if err := forceRemove(target); err != nil {
		return nil, fmt.Errorf("removing old cache %s: %w", target, err)
	}
	if err := os.Rename(dir, target); err != nil {
		return nil, fmt.Errorf("installing clone as %s: %w", target, err)
	}
	repo, err := openRepo(target)
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

// cacheObjects bounds the decoded objects the cache's storage keeps (go-git's
// default is 96 MiB, which a history walk over 200 revisions of a 5,000-file
// folder fills with 40 MB of trees).
const cacheObjects = 8 * cache.MiByte

// newStorage is the storage of the bare repository in dir.
func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(cacheObjects))
}

// openRepo opens the bare repository in dir.
func openRepo(dir string) (*git.Repository, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	return git.Open(newStorage(dir), nil)
}
