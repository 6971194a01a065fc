package gitsource

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Result says whether Fetch found something new.
type Result string

const (
	// Unchanged means the remote ref has not moved since the last Fetch; the
	// Snapshot is the previous one and nothing was fetched.
	Unchanged Result = "unchanged"
	// Updated means the Snapshot is new to this Source: the first one, or
	// one from a commit the ref moved to.
	Updated Result = "updated"
)

// File is one regular file of a Snapshot.
type File struct {
	// Path is the slash-separated path relative to Config.Path.
	Path string
	// Data is the file's content.
	Data []byte
}

// Snapshot is the content of Config.Path at one commit.
type Snapshot struct {
	// Revision is the commit hash.
	Revision string
	// Ref is the full ref name the commit was found under (for example
	// refs/heads/main), or the hash when Config.Ref is a commit hash.
	Ref string
	// CommitTime is the committer's time of the commit.
	CommitTime time.Time
	// Author is the commit's author, "Name <email>".
	Author string
	// SignedBy is the fingerprint of the key that signed the commit, when
	// Config.Keyring is set.
	SignedBy string
	// Files are all regular files under Config.Path, recursively, sorted by
	// Path. Symbolic links and submodules are left out.
	Files []File
}

// ErrPathNotFound means Config.Path is not a folder in the commit's tree. Git
// keeps no empty folders, so this is also what a folder whose files were all
// deleted looks like; callers should not read it as "no files".
var ErrPathNotFound = errors.New("path not found in commit")

// contentError marks read errors that come from the commit's content, not from
// a broken cache, so a fresh clone would not help.
type contentError struct{ err error }

func (e *contentError) Error() string { return e.err.Error() }
func (e *contentError) Unwrap() error { return e.err }

// peelCommit follows annotated tags from h to a commit.
func peelCommit(st storer.EncodedObjectStorer, h plumbing.Hash) (*object.Commit, error) {
	for range 8 {
		obj, err := object.GetObject(st, h)
		if err != nil {
			return nil, fmt.Errorf("reading object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, &contentError{fmt.Errorf("%s is a %s, not a commit", h, obj.Type())}
		}
	}
	return nil, &contentError{fmt.Errorf("tag chain at %s is too long", h)}
}

// readSnapshot reads every regular file under dir in commit c. Any error fails
// the whole read.
func readSnapshot(st storer.EncodedObjectStorer, c *object.Commit, dir string) (Snapshot, error) {
	snap := Snapshot{
		Revision:   c.Hash.String(),
		CommitTime: c.Committer.When,
		Author:     fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
	}
	tree, err := c.Tree()
	if err != nil {
		return Snapshot{}, fmt.Errorf("reading tree of commit %s: %w", c.Hash, err)
	}
	if dir != "" {
		tree, err = subtree(st, tree, dir)
		if err != nil {
			return Snapshot{}, err
		}
	}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("walking tree of %s: %w", path.Join(dir, name), err)
		}
		switch entry.Mode {
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
		default:
			continue // folders (walked into), symbolic links, submodules
		}
		data, err := readBlob(st, entry.Hash)
		if err != nil {
			return Snapshot{}, fmt.Errorf("reading %s: %w", path.Join(dir, name), err)
		}
		snap.Files = append(snap.Files, File{Path: name, Data: data})
	}
	slices.SortFunc(snap.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return snap, nil
}

// subtree walks from tree down to folder dir; a missing folder, or a file
// where a folder should be, is ErrPathNotFound.
func subtree(st storer.EncodedObjectStorer, tree *object.Tree, dir string) (*object.Tree, error) {
	walked := ""
	for _, name := range strings.Split(dir, "/") {
		walked = path.Join(walked, name)
		i := slices.IndexFunc(tree.Entries, func(e object.TreeEntry) bool { return e.Name == name })
		if i < 0 {
			return nil, &contentError{fmt.Errorf("%w: %s", ErrPathNotFound, dir)}
		}
		entry := tree.Entries[i]
		if entry.Mode != filemode.Dir {
			return nil, &contentError{fmt.Errorf("%w: %s is not a folder", ErrPathNotFound, walked)}
		}
		next, err := object.GetTree(st, entry.Hash)
		if err != nil {
			return nil, fmt.Errorf("reading folder %s: %w", walked, err)
		}
		tree = next
	}
	return tree, nil
}

func readBlob(st storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	blob, err := object.GetBlob(st, h)
	if err != nil {
		return nil, err
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != blob.Size {
		return nil, fmt.Errorf("blob %s: read %d of %d bytes", h, len(data), blob.Size)
	}
	return data, nil
}
