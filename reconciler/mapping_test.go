package reconciler

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Every entry that is not a regular file directly in the folder is ignored
// with its reason; links are never followed.
func TestMapFilesIgnoresWithReasons(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml":            {Data: []byte("contents:\n  packages: [curl]\n")},
		"link.yaml":         {Data: []byte("a.yaml"), Mode: fs.ModeSymlink},
		"vendored":          {Mode: fs.ModeIrregular}, // a submodule, as gitsource marks it
		"pipe.yaml":         {Mode: fs.ModeNamedPipe},
		"notes.txt":         {Data: []byte("x")},
		".ca-reconciler.x":  {Data: []byte("x")},
		"deep/er/b.yaml":    {Data: []byte("{}\n")},
		"deep/link.yaml":    {Data: []byte("../a.yaml"), Mode: fs.ModeSymlink},
		"deep/er/notes.yml": {Data: []byte("{}\n")},
	}
	d := MapFiles("ca-images-iac", fsys)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	want := []store.IgnoredFile{
		{Path: "ca-images-iac/.ca-reconciler.x", Reason: vocab.IgnoredHidden},
		{Path: "ca-images-iac/deep/er/b.yaml", Reason: vocab.IgnoredNested},
		{Path: "ca-images-iac/deep/er/notes.yml", Reason: vocab.IgnoredNested},
		{Path: "ca-images-iac/deep/link.yaml", Reason: vocab.IgnoredSymlink},
		{Path: "ca-images-iac/link.yaml", Reason: vocab.IgnoredSymlink},
		{Path: "ca-images-iac/notes.txt", Reason: vocab.IgnoredExtension},
		{Path: "ca-images-iac/pipe.yaml", Reason: vocab.IgnoredIrregular},
		{Path: "ca-images-iac/vendored", Reason: vocab.IgnoredSubmodule},
	}
	if diff := cmp.Diff(want, d.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	if _, ok := d.Repos["link"]; ok {
		t.Errorf("the symbolic link manages a repo")
	}
	if len(d.Repos) != 1 || d.Repos["a"].Err != nil {
		t.Errorf("repos = %+v, want only a, valid", d.Repos)
	}
}

// On disk (validate), a symbolic link to a valid file is ignored, not
// followed.
func TestMapFilesOnDiskDoesNotFollowLinks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(outside, []byte("contents:\n  packages: [curl]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	d := MapFiles("ca-images-iac", os.DirFS(dir))
	if diff := cmp.Diff([]store.IgnoredFile{{Path: "ca-images-iac/b.yaml", Reason: vocab.IgnoredSymlink}}, d.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	if _, ok := d.Repos["b"]; ok || len(d.Repos) != 1 {
		t.Errorf("repos = %v", d.Repos)
	}
}

// A folder that cannot be read, or a file that cannot, makes the whole
// Desired unreadable: never a partial set of repos that would make the rest
// look orphaned.
func TestMapFilesUnreadable(t *testing.T) {
	d := MapFiles("ca-images-iac", os.DirFS(filepath.Join(t.TempDir(), "nope")))
	if d.Err == nil || len(d.Repos) != 0 {
		t.Errorf("missing folder: err %v, repos %v", d.Err, d.Repos)
	}
	broken := &countingFS{MapFS: fstest.MapFS{"a.yaml": {Data: []byte("{}\n")}, "b.yaml": {Data: []byte("{}\n")}}, fail: "b.yaml"}
	d = MapFiles("ca-images-iac", broken)
	if got, want := fmt.Sprint(d.Err), "reading ca-images-iac/b.yaml: open b.yaml: blob missing from the cache"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

// countingFS is an in-memory commit tree that knows each file's blob hash
// (as gitsource's does) and counts the files read.
type countingFS struct {
	fstest.MapFS
	fail string

	mu    sync.Mutex
	reads map[string]int
	bytes int
}

// countingFile counts the bytes read from it.
type countingFile struct {
	fs.File
	c *countingFS
}

func (f countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.c.mu.Lock()
	f.c.bytes += n
	f.c.mu.Unlock()
	return n, err
}

func (c *countingFS) Open(name string) (fs.File, error) {
	if name == c.fail {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("blob missing from the cache")}
	}
	f, err := c.MapFS.Open(name)
	if err == nil && name != "." {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			c.mu.Lock()
			if c.reads == nil {
				c.reads = map[string]int{}
			}
			c.reads[name]++
			c.mu.Unlock()
			return countingFile{f, c}, nil
		}
	}
	return f, err
}

// ReadFile shadows MapFS's, which would bypass Open.
func (c *countingFS) ReadFile(name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (c *countingFS) BlobHash(name string) (string, bool) {
	f, ok := c.MapFS[name]
	if !ok || !f.Mode.IsRegular() {
		return "", false
	}
	sum := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(f.Data))), f.Data...))
	return hex.EncodeToString(sum[:]), true
}

func (c *countingFS) takeReads() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = nil
	return r
}

// With blob hashes, a new revision reads and parses only the files whose
// blob changed; the cache keeps only the current revision's entries.
func TestParseCacheReadsOnlyChangedBlobs(t *testing.T) {
	files := fstest.MapFS{}
	for i := range 100 {
		files[fmt.Sprintf("r%03d.yaml", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("environment:\n  N: %q\n", fmt.Sprint(i)))}
	}
	files["bad.yaml"] = &fstest.MapFile{Data: []byte("entrypoint: {}\n")}
	var cache parseCache
	rev1 := &countingFS{MapFS: files}
	d1 := mapFiles("f", rev1, &cache)
	if d1.Parsed != 101 || d1.Reused != 0 || len(rev1.takeReads()) != 101 {
		t.Fatalf("first revision: parsed %d reused %d", d1.Parsed, d1.Reused)
	}

	// One file changes, one is added, one removed; bad.yaml stays bad.
	files2 := fstest.MapFS{}
	for k, v := range files {
		files2[k] = v
	}
	files2["r007.yaml"] = &fstest.MapFile{Data: []byte("environment:\n  N: changed\n")}
	files2["new.yaml"] = &fstest.MapFile{Data: []byte("{}\n")}
	delete(files2, "r050.yaml")
	rev2 := &countingFS{MapFS: files2}
	d2 := mapFiles("f", rev2, &cache)
	if diff := cmp.Diff(map[string]int{"r007.yaml": 1, "new.yaml": 1}, rev2.takeReads()); diff != "" {
		t.Errorf("files read for the second revision (-want +got):\n%s", diff)
	}
	if d2.Parsed != 2 || d2.Reused != 99 {
		t.Errorf("second revision: parsed %d reused %d, want 2 and 99", d2.Parsed, d2.Reused)
	}
	if len(cache.entries) != 101 {
		t.Errorf("cache holds %d entries, want 101 (the second revision's files)", len(cache.entries))
	}
	// The reused results equal a fresh parse, errors included.
	fresh := MapFiles("f", files2)
	if diff := cmp.Diff(fresh.Repos, d2.Repos, cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
		t.Errorf("cached mapping differs from a fresh one (-fresh +cached):\n%s", diff)
	}

	// The same blob under another name is parsed again: messages name the
	// file.
	files3 := fstest.MapFS{"other.yaml": files2["bad.yaml"]}
	rev3 := &countingFS{MapFS: files3}
	d3 := mapFiles("f", rev3, &cache)
	if d3.Parsed != 1 || d3.Reused != 0 {
		t.Errorf("renamed file: parsed %d reused %d", d3.Parsed, d3.Reused)
	}
	if got := fmt.Sprint(d3.Repos["other"].Err); got[:len("f/other.yaml")] != "f/other.yaml" {
		t.Errorf("renamed file's error names %q", got)
	}
}

// A file over the size limit is invalid with the parser's message, and at
// most the limit plus one byte of it is read.
func TestMapFilesReadsAtMostTheLimit(t *testing.T) {
	big := make([]byte, 3*overlay.MaxFileBytes)
	for i := range big {
		big[i] = 'a'
	}
	fsys := &countingFS{MapFS: fstest.MapFS{"big.yaml": {Data: big}}}
	d := MapFiles("f", fsys)
	if got, want := fmt.Sprint(d.Repos["big"].Err), "f/big.yaml:1:1048577: file is larger than the limit of 1048576 bytes (1 MiB)"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
	if fsys.bytes > overlay.MaxFileBytes+1 {
		t.Errorf("read %d bytes of a %d-byte file, want at most %d", fsys.bytes, len(big), overlay.MaxFileBytes+1)
	}
}
