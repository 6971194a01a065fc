package gitsource

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"
)

// defaultMaxLoose is how many loose objects (4 or so per pushed commit that
// changes one file) the cache may collect before they are packed into one
// packfile, as git gc --auto does at 6,700. Loose objects are stored whole:
// at 5,000 files in one folder each push adds that folder's tree, 120 KB, so
// 64 pushes leave 7.7 MB loose, which packs into 148 KB in 0.26 s
// (BenchmarkCompactPushes).
const defaultMaxLoose = 256

// maxStaged bounds the bytes of blobs and trees a fetch holds in memory
// before it writes them to the cache directly (a force-push to an unrelated
// history brings the whole repository).
const maxStaged = 32 << 20

// stagedObjects is the storage a thin pack is parsed into. New objects stay in
// memory until the whole pack has been read and its deltas resolved; reads
// fall through to the cache, whose objects the deltas refer to. write then
// stores them in the cache. A fetch that breaks off halfway leaves no commit
// behind, so the cache never holds a commit without all it refers to; past
// limit bytes, blobs and trees go to the cache at once (harmless leftovers
// when the fetch breaks off), commits and tags still wait for the end.
type stagedObjects struct {
	*memory.ObjectStorage
	cache  storer.EncodedObjectStorer
	limit  int64
	staged int64
}

func newStagedObjects(cache storer.EncodedObjectStorer) *stagedObjects {
	return &stagedObjects{ObjectStorage: &memory.NewStorage().ObjectStorage, cache: cache, limit: maxStaged}
}

// SetEncodedObject stages o, or stores it in the cache when it is a blob or
// tree and the staged bytes would pass the limit.
func (s *stagedObjects) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	if t := o.Type(); (t == plumbing.BlobObject || t == plumbing.TreeObject) && s.staged+o.Size() > s.limit {
		return s.cache.SetEncodedObject(o)
	}
	s.staged += o.Size()
	return s.ObjectStorage.SetEncodedObject(o)
}

func (s *stagedObjects) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.ObjectStorage.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return s.cache.EncodedObject(t, h)
	}
	return o, err
}

func (s *stagedObjects) HasEncodedObject(h plumbing.Hash) error {
	if err := s.ObjectStorage.HasEncodedObject(h); err == nil {
		return nil
	}
	return s.cache.HasEncodedObject(h)
}

func (s *stagedObjects) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	n, err := s.ObjectStorage.EncodedObjectSize(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return s.cache.EncodedObjectSize(h)
	}
	return n, err
}

// write stores the staged objects in the cache (loose): blobs, trees,
// commits, then tags, so that the cache never holds a commit without its
// tree, even when the write is interrupted. It returns how many it wrote.
func (s *stagedObjects) write() (int, error) {
	n := 0
	for _, group := range []map[plumbing.Hash]plumbing.EncodedObject{s.Blobs, s.Trees, s.Commits, s.Tags} {
		for h, o := range group {
			if _, err := s.cache.SetEncodedObject(o); err != nil {
				return n, fmt.Errorf("storing object %s: %w", h, err)
			}
			n++
		}
	}
	return n, nil
}

// looseStorer is what compactLoose needs of the cache's storage.
type looseStorer interface {
	storer.EncodedObjectStorer
	storer.LooseObjectStorer
	storer.PackfileWriter
}

// compactLoose packs the cache's loose objects into one packfile and removes
// them, once there are at least max. It returns how many it packed (0 when
// below max).
func compactLoose(st storage.Storer, max int) (int, error) {
	ls, ok := st.(looseStorer)
	if !ok {
		return 0, nil
	}
	var loose []plumbing.Hash
	if err := ls.ForEachObjectHash(func(h plumbing.Hash) error {
		loose = append(loose, h)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("listing loose objects: %w", err)
	}
	if len(loose) < max {
		return 0, nil
	}
	w, err := ls.PackfileWriter()
	if err != nil {
		return 0, fmt.Errorf("packing loose objects: %w", err)
	}
	_, err = packfile.NewEncoder(w, ls, false).Encode(loose, 10)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("packing loose objects: %w", err)
	}
	for _, h := range loose {
		if err := ls.DeleteLooseObject(h); err != nil {
			return 0, fmt.Errorf("removing packed loose object %s: %w", h, err)
		}
	}
	return len(loose), nil
}
