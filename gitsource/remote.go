package gitsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrRefNotFound means the remote does not have the configured ref.
var ErrRefNotFound = errors.New("ref not found")

// remoteName is the name go-git gives the in-memory remote; nothing is
// written to the cache's config.
const remoteName = "origin"

// localRef is the branch in the cache that holds the fetched ref; the cache's
// HEAD points to it.
const localRef = plumbing.ReferenceName("refs/heads/gitsource")

// listRemote is git ls-remote.
func (s *Source) listRemote(ctx context.Context, auth transport.AuthMethod) ([]*plumbing.Reference, error) {
	s.stats.lists.Add(1)
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{s.cfg.url}})
	return remote.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: s.cfg.caBundle})
}

// fetchInto fetches specs into st, forced and without tags; depth 0 fetches
// full history. An already up-to-date fetch is not an error.
func (s *Source) fetchInto(ctx context.Context, st storage.Storer, specs []config.RefSpec, depth int, auth transport.AuthMethod) error {
	s.stats.fetches.Add(1)
	remote := git.NewRemote(st, &config.RemoteConfig{Name: remoteName, URLs: []string{s.cfg.url}})
	err := remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   specs,
		Depth:      depth,
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
		CABundle:   s.cfg.caBundle,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// refSpecFor fetches remote ref name into the cache's branch, forced.
func refSpecFor(name string) config.RefSpec {
	return config.RefSpec("+" + name + ":" + string(localRef))
}

// allRefSpecs fetch every branch and tag, for looking up a commit by hash when
// the server will not send it by itself.
func allRefSpecs() []config.RefSpec {
	return []config.RefSpec{
		"+refs/heads/*:refs/gitsource/heads/*",
		"+refs/tags/*:refs/gitsource/tags/*",
	}
}

// resolve finds the configured ref in an ls-remote answer and returns its full
// name and the hash it points to (for an annotated tag, the tag object's).
func (t target) resolve(refs []*plumbing.Reference) (plumbing.ReferenceName, plumbing.Hash, error) {
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	follow := func(r *plumbing.Reference) (plumbing.ReferenceName, plumbing.Hash, error) {
		for range 5 {
			if r.Type() == plumbing.HashReference {
				return r.Name(), r.Hash(), nil
			}
			next, ok := byName[r.Target()]
			if !ok {
				return "", plumbing.ZeroHash, fmt.Errorf("%w: %s points to %s, which the remote does not have", ErrRefNotFound, r.Name(), r.Target())
			}
			r = next
		}
		return "", plumbing.ZeroHash, fmt.Errorf("%w: symbolic ref %s nests too deep", ErrRefNotFound, r.Name())
	}
	switch t.kind {
	case refHead:
		head, ok := byName[plumbing.HEAD]
		if !ok {
			return "", plumbing.ZeroHash, fmt.Errorf("%w: the remote has no HEAD (is it empty?)", ErrRefNotFound)
		}
		return follow(head)
	case refName:
		for _, name := range t.candidates {
			if r, ok := byName[name]; ok {
				return follow(r)
			}
		}
		return "", plumbing.ZeroHash, fmt.Errorf("%w: no branch or tag %s on the remote", ErrRefNotFound, t.given)
	}
	return "", plumbing.ZeroHash, fmt.Errorf("cannot resolve commit %s by listing refs", t.commit)
}
