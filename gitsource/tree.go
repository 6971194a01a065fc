package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrSnapshotGone is what reading a Snapshot's FS returns after the cache it
// reads from was removed (cloned afresh, or found broken) by a later Fetch:
// the snapshot's objects may no longer exist. Fetch again.
var ErrSnapshotGone = errors.New("the cache this snapshot was read from has been cloned afresh; fetch again")

// ErrNotRegular is what opening or reading an entry that is not a regular
// file or folder returns: a symbolic link (never followed) or a submodule
// (its content is in another repository).
var ErrNotRegular = errors.New("not a regular file")

// maxCachedEntries bounds the folder listings a cache keeps decoded, shared
// by every snapshot read from it (folders are content-addressed, so an
// unchanged folder is decoded once for all revisions).
const maxCachedEntries = 50_000

// objectReader reads objects for snapshots' trees. It has its own storage
// on the cache folder, apart from the one fetches write with, and serializes
// its reads, so trees can be read while a Fetch runs.
type objectReader struct {
	gen  int64         // the cache generation it reads
	live *atomic.Int64 // the Source's current generation
	// damage is the first read that failed for a reason in the cache
	// itself (a missing or corrupt object); the next Fetch then clones
	// afresh.
	damage atomic.Pointer[error]

	mu      sync.Mutex
	path    string // the cache folder
	st      *filesystem.Storage
	used    bool // st read something since it was opened
	dirs    map[plumbing.Hash]*treeDir
	order   []plumbing.Hash // dirs, oldest first
	entries int             // in dirs
}

// treeDir is a decoded folder: its entries sorted by name.
type treeDir struct {
	entries []object.TreeEntry
	byName  map[string]int
}

// object returns an object, looking for new packfiles once when it is not
// found (a Fetch may have packed loose objects since).
func (r *objectReader) object(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	r.used = true
	o, err := r.st.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		r.st.Reindex()
		o, err = r.st.EncodedObject(t, h)
	}
	return o, r.damaged(err)
}

// damaged records err, a failure to read an object a snapshot's tree names,
// as damage to the cache, and returns it.
func (r *objectReader) damaged(err error) error {
	if err != nil {
		r.damage.CompareAndSwap(nil, &err)
	}
	return err
}

// damageFound returns the first damage a read found, or nil.
func (r *objectReader) damageFound() error {
	if p := r.damage.Load(); p != nil {
		return *p
	}
	return nil
}

// dir returns the decoded folder h; callers hold mu.
func (r *objectReader) dir(h plumbing.Hash) (*treeDir, error) {
	if d, ok := r.dirs[h]; ok {
		return d, nil
	}
	o, err := r.object(plumbing.TreeObject, h)
	if err != nil {
		return nil, fmt.Errorf("reading folder %s: %w", h, err)
	}
	var t object.Tree
	if err := t.Decode(o); err != nil {
		return nil, r.damaged(fmt.Errorf("decoding folder %s: %w", h, err))
	}
	d := &treeDir{entries: slices.Clone(t.Entries), byName: make(map[string]int, len(t.Entries))}
	slices.SortFunc(d.entries, func(a, b object.TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range d.entries {
		d.byName[e.Name] = i
	}
	for r.entries+len(d.entries) > maxCachedEntries && len(r.order) > 0 {
		old := r.order[0]
		r.order = r.order[1:]
		r.entries -= len(r.dirs[old].entries)
		delete(r.dirs, old)
	}
	r.dirs[h] = d
	r.order = append(r.order, h)
	r.entries += len(d.entries)
	return d, nil
}

// Tree is a commit's tree under Config.Path, read lazily from the cache: it
// holds no file content, only where to find it. It implements [fs.FS],
// [fs.ReadDirFS] and [fs.ReadFileFS]; names are slash paths relative to
// Config.Path ("." is Config.Path itself).
//
// Every entry Git records is there with its type: folders, regular files
// (executable or not), symbolic links ([fs.ModeSymlink]; never followed, so
// opening or reading one fails with [ErrNotRegular]) and submodules
// ([fs.ModeIrregular]; their content is in another repository, so opening
// one fails with ErrNotRegular too).
//
// A Tree stays readable after later Fetches, as long as the cache is not
// cloned afresh (when it holds too many packfiles, or was found broken); then
// every read fails with [ErrSnapshotGone] rather than returning anything.
// It is safe for concurrent use.
type Tree struct {
	r    *objectReader
	root plumbing.Hash
}

// Equal reports whether t and o read the same folder from the same cache.
func (t *Tree) Equal(o *Tree) bool {
	return t == o || t != nil && o != nil && t.r == o.r && t.root == o.root
}

// entry is a looked-up name.
type entry struct {
	name string // base name; "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
}

// lookup finds name; callers hold r.mu.
func (t *Tree) lookup(op, name string) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if t.r.live.Load() != t.r.gen {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: ErrSnapshotGone}
	}
	e := entry{name: ".", mode: filemode.Dir, hash: t.root}
	if name == "." {
		return e, nil
	}
	for _, part := range strings.Split(name, "/") {
		if e.mode != filemode.Dir {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		d, err := t.r.dir(e.hash)
		if err != nil {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		i, ok := d.byName[part]
		if !ok {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		te := d.entries[i]
		e = entry{name: te.Name, mode: te.Mode, hash: te.Hash}
	}
	return e, nil
}

// notRegular is the error for an entry that cannot be opened.
func notRegular(op, name string, mode filemode.FileMode) error {
	what := "not a regular file"
	switch mode {
	case filemode.Symlink:
		what = "symbolic link, never followed"
	case filemode.Submodule:
		what = "submodule, its files are in another repository"
	}
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %s", ErrNotRegular, what)}
}

func isRegular(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

// readBlob reads a whole file; callers hold r.mu.
func (t *Tree) readBlob(op, name string, h plumbing.Hash) ([]byte, error) {
	o, err := t.r.object(plumbing.BlobObject, h)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: t.r.damaged(err)}
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err == nil && int64(len(data)) != o.Size() {
		err = fmt.Errorf("blob %s: read %d of %d bytes", h, len(data), o.Size())
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: t.r.damaged(err)}
	}
	return data, nil
}

// ReadFile returns the content of the regular file name.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	return atEntry(t, "read", name, func(e entry) ([]byte, error) {
		switch {
		case e.mode == filemode.Dir:
			return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a folder")}
		case !isRegular(e.mode):
			return nil, notRegular("read", name, e.mode)
		}
		return t.readBlob("read", name, e.hash)
	})
}

// atEntry looks up name for the operation op and hands its entry to f,
// all under t.r.mu; an error of the lookup is returned as it is.
func atEntry[T any](t *Tree, op, name string, f func(e entry) (T, error)) (T, error) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	e, err := t.lookup(op, name)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(e)
}

// BlobHash returns the Git blob id (40 hex digits) of the regular file
// name, and false when name is not a regular file. Two snapshots' files with
// the same blob id have the same content, so results parsed from one can be
// reused for the other without reading it.
func (t *Tree) BlobHash(name string) (string, bool) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	e, err := t.lookup("blobhash", name)
	if err != nil || !isRegular(e.mode) {
		return "", false
	}
	return e.hash.String(), true
}

// ReadDir lists the folder name, sorted by name.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	return atEntry(t, "readdir", name, func(e entry) ([]fs.DirEntry, error) {
		if e.mode != filemode.Dir {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a folder")}
		}
		return t.list(name, e.hash)
	})
}

// list returns the entries of folder h; callers hold r.mu.
func (t *Tree) list(name string, h plumbing.Hash) ([]fs.DirEntry, error) {
	d, err := t.r.dir(h)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(d.entries))
	for i, te := range d.entries {
		out[i] = &dirEntry{t: t, e: entry{name: te.Name, mode: te.Mode, hash: te.Hash}}
	}
	return out, nil
}

// Open opens name: a folder (an [fs.ReadDirFile]) or a regular file.
func (t *Tree) Open(name string) (fs.File, error) {
	return atEntry(t, "open", name, func(e entry) (fs.File, error) {
		switch {
		case e.mode == filemode.Dir:
			entries, err := t.list(name, e.hash)
			if err != nil {
				return nil, err
			}
			return &openDir{info: t.info(e), entries: entries}, nil
		case isRegular(e.mode):
			data, err := t.readBlob("open", name, e.hash)
			if err != nil {
				return nil, err
			}
			info := t.info(e)
			info.size, info.sized = int64(len(data)), true
			return &openFile{info: info, Reader: bytes.NewReader(data)}, nil
		}
		return nil, notRegular("open", name, e.mode)
	})
}

// info describes e; the size of a file is looked up when asked for.
func (t *Tree) info(e entry) *fileInfo {
	return &fileInfo{t: t, e: e}
}

// fileInfo is an fs.FileInfo of an entry.
type fileInfo struct {
	t     *Tree
	e     entry
	size  int64
	sized bool
}

func (i *fileInfo) Name() string       { return i.e.name }
func (i *fileInfo) ModTime() time.Time { return time.Time{} }
func (i *fileInfo) IsDir() bool        { return i.e.mode == filemode.Dir }
func (i *fileInfo) Sys() any           { return nil }

// Size is the file's size in bytes (0 for anything but a regular file, or
// when it cannot be read).
func (i *fileInfo) Size() int64 {
	if i.sized || !isRegular(i.e.mode) {
		return i.size
	}
	i.t.r.mu.Lock()
	defer i.t.r.mu.Unlock()
	if i.t.r.live.Load() == i.t.r.gen {
		i.t.r.used = true
		if n, err := i.t.r.st.EncodedObjectSize(i.e.hash); err == nil {
			i.size = n
		}
	}
	i.sized = true
	return i.size
}

func (i *fileInfo) Mode() fs.FileMode { return modeOf(i.e.mode) }

// modeOf maps a Git file mode to an fs.FileMode.
func modeOf(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Regular, filemode.Deprecated:
		return 0o644
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	}
	return fs.ModeIrregular // submodules and anything else
}

// dirEntry is an fs.DirEntry of a Tree.
type dirEntry struct {
	t *Tree
	e entry
}

func (d *dirEntry) Name() string               { return d.e.name }
func (d *dirEntry) IsDir() bool                { return d.e.mode == filemode.Dir }
func (d *dirEntry) Type() fs.FileMode          { return modeOf(d.e.mode).Type() }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.t.info(d.e), nil }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

// openFile is an open regular file.
type openFile struct {
	*bytes.Reader
	info *fileInfo
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

// openDir is an open folder.
type openDir struct {
	info    *fileInfo
	entries []fs.DirEntry
	next    int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.e.name, Err: errors.New("is a folder")}
}

// ReadDir returns the next n entries (all remaining when n <= 0).
func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.next:]
	if n <= 0 {
		d.next = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.next += n
	return rest[:n], nil
}

// subtreeHash walks from the root folder down to folder dir; a missing
// folder, or a file where a folder should be, is ErrPathNotFound.
func subtreeHash(r *objectReader, root plumbing.Hash, dir string) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, walked := root, ""
	if dir == "" {
		return h, nil
	}
	for _, name := range strings.Split(dir, "/") {
		walked = path.Join(walked, name)
		d, err := r.dir(h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("reading folder %s: %w", walked, err)
		}
		i, ok := d.byName[name]
		if !ok {
			return plumbing.ZeroHash, &contentError{fmt.Errorf("%w: %s", ErrPathNotFound, dir)}
		}
		e := d.entries[i]
		if e.Mode != filemode.Dir {
			return plumbing.ZeroHash, &contentError{fmt.Errorf("%w: %s is not a folder", ErrPathNotFound, walked)}
		}
		h = e.Hash
	}
	return h, nil
}

// newObjectReader reads the cache in dir, generation gen of live.
func newObjectReader(dir string, gen int64, live *atomic.Int64) *objectReader {
	return &objectReader{gen: gen, live: live, path: dir, st: readerStorage(dir), dirs: map[plumbing.Hash]*treeDir{}}
}

// readerStorage opens the storage a reader reads with. It keeps a few
// packfiles open: opening one per object read cost 60 % of reading 5,000
// files. close releases them.
func readerStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(cacheObjects), filesystem.Options{MaxOpenDescriptors: 8})
}

// release drops what the storage holds for the reads made since it was
// opened: the decoded objects (up to cacheObjects), the packfile indexes
// and their reverse offset maps, the open packfiles. They speed up reading
// one revision's files; a caller reads those right after the Fetch that
// returned the revision, so the next Fetch releases them (at 5,000 files,
// about 4 MB that would otherwise stay). The decoded folder listings are
// kept: unchanged folders are shared between revisions.
func (r *objectReader) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.used {
		return
	}
	_ = r.st.Close()
	r.st, r.used = readerStorage(r.path), false
}

// close releases the reader's open files; later reads fail, and trees of
// its generation refuse them anyway.
func (r *objectReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.st.Close()
}
