package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
)

// ErrRefNotFound means the remote does not have the configured ref.
var ErrRefNotFound = errors.New("ref not found")

// localRef is the branch in the cache that holds the fetched ref; the cache's
// HEAD points to it.
const localRef = plumbing.ReferenceName("refs/heads/gitsource")

// maxHaves is how many commits of the cache's history a fetch offers as
// already present. The server needs only one it knows (normally the tip,
// the new commit's parent); more help after a force-push.
const maxHaves = 32

// listRemote is git ls-remote: every advertised ref, then the peeled
// tags as "name^{}" (what go-git's Remote.List returns, over transportFor's
// transport).
func (s *Source) listRemote(ctx context.Context, auth transport.AuthMethod) (_ []*plumbing.Reference, err error) {
	s.stats.lists.Add(1)
	sess, err := s.uploadPackSession(auth)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := sess.Close(); err == nil {
			err = cerr
		}
	}()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, err
	}
	all, err := adv.AllReferences()
	if err != nil {
		return nil, err
	}
	iter, err := all.IterReferences()
	if err != nil {
		return nil, err
	}
	var refs []*plumbing.Reference
	if err := iter.ForEach(func(r *plumbing.Reference) error {
		refs = append(refs, r)
		return nil
	}); err != nil {
		return nil, err
	}
	for name, h := range adv.Peeled {
		refs = append(refs, plumbing.NewReferenceFromStrings(name+"^{}", h.String()))
	}
	return refs, nil
}

// uploadPackSession opens an upload-pack session with the remote.
func (s *Source) uploadPackSession(auth transport.AuthMethod) (transport.UploadPackSession, error) {
	ep, err := transport.NewEndpoint(s.cfg.url)
	if err != nil {
		return nil, err
	}
	cl, err := s.transportFor(ep)
	if err != nil {
		return nil, err
	}
	return cl.NewUploadPackSession(ep, auth)
}

// packRequest says what one upload-pack exchange asks for: the full history
// of one ref or commit, minus what the cache has.
type packRequest struct {
	// name is the ref to fetch. It is looked up again in the exchange's own
	// ref advertisement, since it may have moved since ls-remote.
	name plumbing.ReferenceName
	// commit is wanted by hash when name is empty.
	commit plumbing.Hash
	// all wants every branch and tag as well, for a commit the server will
	// not send by hash.
	all bool
	// haves are commits the cache holds. With haves the server sends a thin
	// pack (deltas against objects the cache has) of only what is new.
	haves []plumbing.Hash
}

// fetchPack runs one upload-pack exchange and stores what the server sends
// into st; it returns the hash it wanted (for a name, what the ref points to
// now). Nothing is shallow: the cache holds full history, so that the
// server, told what the cache has, sends only new objects.
//
// go-git's own Remote.Fetch cannot do this cheaply: it never asks for a thin
// pack (transport.UnsupportedCapabilities lists thin-pack, because its pack
// writer cannot complete one), so a one-file push to a folder of 5,000 files
// made the server send the folder's whole tree object again (120 KB; with
// Depth 1 every blob as well, 364 KB). Here a fetch with haves asks for a
// thin pack and feeds it to go-git's packfile parser, which resolves the
// deltas against the cache's objects (stagedObjects); the new objects are then
// written loose, and packed together once there are many (compactLoose). A
// fetch without haves (a clone) is written as one pack.
func (s *Source) fetchPack(ctx context.Context, st storage.Storer, req packRequest, auth transport.AuthMethod) (plumbing.Hash, error) {
	s.stats.fetches.Add(1)
	sess, err := s.uploadPackSession(auth)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	wants, tip, err := req.wants(refs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(wants) == 0 {
		return tip, nil
	}

	up := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	up.Wants = wants
	up.Haves = req.haves
	thin := len(req.haves) > 0
	if thin {
		// go-git filters thin-pack out of what the server advertises; every
		// git server since 1.x supports it, and a server that refuses it
		// fails this fetch, which then falls back to a clone (no haves).
		if err := up.Capabilities.Set(capability.ThinPack); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if adv.Capabilities.Supports(capability.NoProgress) {
		if err := up.Capabilities.Set(capability.NoProgress); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	resp, err := sess.UploadPack(ctx, up)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return tip, nil // the cache has everything
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer resp.Close()

	var pack io.Reader = resp
	switch {
	case up.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case up.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	pack = &countingReader{r: pack, n: &s.stats.packBytes}
	if thin {
		staged := newStagedObjects(st)
		p, err := packfile.NewParserWithStorage(packfile.NewScanner(pack), staged)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := p.Parse(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("reading pack: %w", err)
		}
		if _, err := staged.write(); err != nil {
			return plumbing.ZeroHash, err
		}
		return tip, nil
	}
	if err := packfile.UpdateObjectStorage(st, pack); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading pack: %w", err)
	}
	return tip, nil
}

// wants lists the objects to ask for, given the exchange's advertised refs,
// and the hash the request stands for.
func (r packRequest) wants(refs map[plumbing.ReferenceName]*plumbing.Reference) ([]plumbing.Hash, plumbing.Hash, error) {
	tip := r.commit
	if r.name != "" {
		ref, ok := refs[r.name]
		if !ok || ref.Type() != plumbing.HashReference {
			return nil, plumbing.ZeroHash, fmt.Errorf("%w: %s is gone from the remote", ErrRefNotFound, r.name)
		}
		tip = ref.Hash()
	}
	if r.all {
		// Only advertised tips: the server would refuse the commit itself.
		seen := map[plumbing.Hash]bool{}
		var wants []plumbing.Hash
		for name, ref := range refs {
			if (name.IsBranch() || name.IsTag()) && ref.Type() == plumbing.HashReference && !seen[ref.Hash()] {
				seen[ref.Hash()] = true
				wants = append(wants, ref.Hash())
			}
		}
		slices.SortFunc(wants, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
		return wants, tip, nil
	}
	if slices.Contains(r.haves, tip) {
		return nil, tip, nil
	}
	return []plumbing.Hash{tip}, tip, nil
}

// countingReader adds the bytes read to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// haves lists up to maxHaves commits of the cache's history, newest first
// from tip.
func haves(st storer.EncodedObjectStorer, tip plumbing.Hash) []plumbing.Hash {
	c, err := object.GetCommit(st, tip)
	if err != nil {
		return nil
	}
	var out []plumbing.Hash
	_ = object.NewCommitPreorderIter(c, nil, nil).ForEach(func(c *object.Commit) error {
		out = append(out, c.Hash)
		if len(out) == maxHaves {
			return storer.ErrStop
		}
		return nil
	})
	return out
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
