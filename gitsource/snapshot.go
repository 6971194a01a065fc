package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
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
	// EverPaths, with Config.History, are the names of the regular files
	// that any commit reachable from Revision held directly under
	// Config.Path, the current ones included, sorted; so a file that was
	// deleted is known to have been there. Nil without Config.History.
	// Callers must not modify it.
	EverPaths []string
	// FS is the commit's tree under Config.Path, read lazily from the cache:
	// a *Tree (see there for what it holds, its lifetime, and BlobHash).
	FS fs.FS
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

// readSnapshot makes the snapshot of folder dir in commit c, its FS read
// lazily through r. It reads only the folders down to dir.
func readSnapshot(r *objectReader, c *object.Commit, dir string) (Snapshot, error) {
	root, err := subtreeHash(r, c.TreeHash, dir)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{
		Revision:   c.Hash.String(),
		CommitTime: c.Committer.When,
		Author:     fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		FS:         &Tree{r: r, root: root},
	}, nil
}
