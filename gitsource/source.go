package gitsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"go.uber.org/zap"
)

// Source serves the files of one ref of one repository. Make it with New.
type Source struct {
	cfg settings
	log *zap.Logger
	// busy holds one token while a Fetch, or an operation one left running
	// past its deadline, uses the cache.
	busy    chan struct{}
	stats   stats
	signers signerCache

	// gen counts the caches this Source has used: it goes up whenever the
	// cache folder is removed, which makes older snapshots' trees refuse
	// reads (ErrSnapshotGone).
	gen atomic.Int64

	// Owned by whoever holds busy.
	repo     *git.Repository
	reader   *objectReader // reads snapshots' trees from the cache
	history  *history      // with Config.History
	current  *accepted     // the snapshot the last successful Fetch returned
	rejected *rejection    // the last revision that failed verification

	mu           sync.Mutex
	lastVerified *Snapshot

	httpOnce sync.Once
	http     transport.Transport // for HTTP(S) remotes; see transportFor
}

// Stats are a Source's network counters since New.
type Stats struct {
	// Lists counts ref listings (git ls-remote).
	Lists int64
	// Fetches counts upload-pack exchanges, clones included.
	Fetches int64
	// Clones counts fresh clones.
	Clones int64
	// PackBytes is the pack data received by all fetches and clones.
	PackBytes int64
}

// Stats returns the Source's network counters; safe to call at any time.
func (s *Source) Stats() Stats {
	return Stats{
		Lists:     s.stats.lists.Load(),
		Fetches:   s.stats.fetches.Load(),
		Clones:    s.stats.clones.Load(),
		PackBytes: s.stats.packBytes.Load(),
	}
}

// stats count network operations.
type stats struct {
	lists, fetches, clones atomic.Int64
	packBytes              atomic.Int64 // pack data received
}

// accepted is a snapshot with the remote ref it came from.
type accepted struct {
	snap Snapshot
	name plumbing.ReferenceName
	tip  plumbing.Hash // what the ref pointed to: a commit or an annotated tag
}

// rejection remembers a revision that failed signature verification, so that
// it is refused again without fetching while the ref stays there.
type rejection struct {
	name plumbing.ReferenceName
	tip  plumbing.Hash
	err  error
}

// content is what was read from the cache.
type content struct {
	tip    plumbing.Hash
	commit *object.Commit
	snap   Snapshot
}

// insecureWarning is logged on every Fetch while host keys are not checked,
// with the setting that does it.
const insecureWarning = "ssh host key verification is disabled"

// New checks cfg and returns a Source. It does no network work; every error it
// returns is a configuration error.
func New(cfg Config) (*Source, error) {
	st, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:  st,
		log:  st.logger.With(zap.String("git_url", st.display)),
		busy: make(chan struct{}, 1),
	}
	if st.history {
		s.history = newHistory(st.path)
	}
	if st.protocol == "ssh" {
		// Read the key files now, so that a bad key is a configuration
		// error; the parsed key is cached for the first Fetch.
		if _, _, err := s.sshAuth(); err != nil {
			return nil, configError("%w", err)
		}
	}
	return s, nil
}

// LastVerified returns the last snapshot Fetch accepted (signed by a trusted
// key, when Config.Keyring is set), and false when there is none yet. It is
// safe to call while a Fetch runs. The cache does not remember verification,
// so after a restart there is none until a Fetch succeeds.
func (s *Source) LastVerified() (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastVerified == nil {
		return Snapshot{}, false
	}
	return *s.lastVerified, true
}

// Fetch returns the files under Config.Path at the commit the ref points to
// now. See the package documentation for what it does on the network. The
// Result is Unchanged, with the previous Snapshot, when the ref has not moved
// since the last successful Fetch. Errors never come with a partial Snapshot,
// and never contain credentials. Callers must not modify EverPaths.
//
// Each network operation is bounded by Config.Timeout, and one Fetch makes at
// most three: ls-remote, a fetch into the cache, and a fresh clone when that
// fetch failed for a reason other than a timeout or a refusal. Concurrent
// calls wait for each other, for at most Config.Timeout.
func (s *Source) Fetch(ctx context.Context) (Snapshot, Result, error) {
	c, err := s.acquire(ctx)
	if err != nil {
		return Snapshot{}, "", err
	}
	defer c.release()
	snap, res, err := s.fetch(ctx, c)
	if err != nil {
		return Snapshot{}, "", cleanError(err, c.secrets)
	}
	return snap, res, nil
}

func (s *Source) fetch(ctx context.Context, c *call) (Snapshot, Result, error) {
	if s.reader != nil {
		s.reader.release()
	}
	if s.reader != nil && s.reader.gen == s.gen.Load() {
		if damage := s.reader.damageFound(); damage != nil {
			// A snapshot's read found the cache broken: clone it again,
			// even if the ref has not moved.
			if err := s.discardCache(damage); err != nil {
				return Snapshot{}, "", err
			}
			s.current = nil
		}
	}
	if s.cfg.insecureHost {
		s.log.Warn(insecureWarning, zap.String("setting", s.cfg.names.of(FieldInsecureSkipHostKeyCheck)))
	}
	auth, secrets, err := s.transportAuth()
	c.secrets = secrets
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("reading credentials for %s: %w", s.cfg.display, err)
	}
	if s.cfg.target.kind == refCommit {
		return s.fetchCommit(ctx, c, auth)
	}

	var refs []*plumbing.Reference
	err = c.network(ctx, func(ctx context.Context) error {
		var err error
		refs, err = s.listRemote(ctx, auth)
		return err
	})
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("listing remote refs of %s: %w", s.cfg.display, err)
	}
	name, tip, err := s.cfg.target.resolve(refs)
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("resolving ref %q of %s: %w", s.cfg.target.given, s.cfg.display, err)
	}
	if cur := s.current; cur != nil && cur.name == name && cur.tip == tip {
		s.log.Debug("remote ref unchanged", zap.String("ref", string(name)), zap.String("revision", cur.snap.Revision))
		return cur.snap, Unchanged, nil
	}
	if rej := s.rejected; rej != nil && rej.name == name && rej.tip == tip {
		return Snapshot{}, "", rej.err
	}
	got, err := s.obtainRef(ctx, c, name, tip, auth)
	if err != nil {
		return Snapshot{}, "", err
	}
	return s.accept(got, name)
}

// obtainRef gets ref name at tip into the cache and reads it: straight from
// the cache when it already has tip (after a restart, or a ref moved back),
// else by fetching only the new objects into the cache, else by cloning
// afresh.
func (s *Source) obtainRef(ctx context.Context, c *call, name plumbing.ReferenceName, tip plumbing.Hash, auth transport.AuthMethod) (content, error) {
	if s.repo == nil {
		repo, err := s.openCache()
		if err != nil {
			return content{}, err
		}
		s.repo = repo
	}
	if s.repo != nil {
		if s.repo.Storer.HasEncodedObject(tip) == nil {
			// Full history: having the object means having all it reaches.
			if got, err := s.readAt(tip); err == nil {
				return got, nil
			}
		}
		ready := false
		switch {
		case s.packCount() >= s.cfg.maxPacks:
			s.log.Info("cache holds many packfiles; cloning afresh to compact it", zap.Int("packs", s.packCount()))
		default:
			st := s.repo.Storer
			req := packRequest{name: name}
			if local, err := localTip(s.repo); err == nil {
				req.haves = haves(st, local)
			}
			err := c.network(ctx, func(ctx context.Context) error {
				got, err := s.fetchPack(ctx, st, req, auth)
				if err == nil {
					err = st.SetReference(plumbing.NewHashReference(localRef, got))
				}
				return err
			})
			switch {
			case err == nil:
				ready = true
				s.compact()
			case c.handedOff || !worthRecloning(err):
				return content{}, fmt.Errorf("fetching %s from %s: %w", name, s.cfg.display, err)
			default:
				s.log.Warn("fetching into the cache failed; cloning afresh",
					zap.String("reason", cleanText(err, c.secrets)))
			}
		}
		if ready {
			got, err := s.read(s.repo)
			if err == nil {
				return got, nil
			}
			var ce *contentError
			if errors.As(err, &ce) {
				return content{}, err
			}
			if err := s.discardCache(err); err != nil {
				return content{}, err
			}
		}
	}
	repo, err := s.clone(ctx, c, packRequest{name: name}, auth, nil)
	if err != nil {
		return content{}, fmt.Errorf("cloning %s of %s: %w", name, s.cfg.display, err)
	}
	s.repo = repo
	return s.read(repo)
}

// readAt points the cache's branch at tip, an object the cache holds, and
// reads it; on failure the branch is put back.
func (s *Source) readAt(tip plumbing.Hash) (content, error) {
	prev, _ := localTip(s.repo)
	if err := s.repo.Storer.SetReference(plumbing.NewHashReference(localRef, tip)); err != nil {
		return content{}, err
	}
	got, err := s.read(s.repo)
	if err != nil && !prev.IsZero() {
		_ = s.repo.Storer.SetReference(plumbing.NewHashReference(localRef, prev))
	}
	return got, err
}

// compact packs the cache's loose objects once there are many of them.
func (s *Source) compact() {
	n, err := compactLoose(s.repo.Storer, s.cfg.maxLoose)
	switch {
	case err != nil:
		s.log.Warn("packing the cache's loose objects failed", zap.Error(err))
	case n > 0:
		s.log.Debug("packed the cache's loose objects", zap.Int("objects", n))
	}
}

// fetchCommit serves a Ref that is a commit hash. A commit cannot move, so
// after the first success it answers Unchanged without network work.
func (s *Source) fetchCommit(ctx context.Context, c *call, auth transport.AuthMethod) (Snapshot, Result, error) {
	want := s.cfg.target.commit
	name := plumbing.ReferenceName(want.String())
	if s.current != nil {
		return s.current.snap, Unchanged, nil
	}
	if s.rejected != nil {
		return Snapshot{}, "", s.rejected.err
	}
	if s.repo == nil {
		repo, err := s.openCache()
		if err != nil {
			return Snapshot{}, "", err
		}
		s.repo = repo
	}
	if s.repo != nil && s.repo.Storer.HasEncodedObject(want) == nil {
		got, err := s.readAt(want)
		if err == nil {
			return s.accept(got, name)
		}
		var ce *contentError
		if errors.As(err, &ce) {
			return Snapshot{}, "", err
		}
		if err := s.discardCache(err); err != nil {
			return Snapshot{}, "", err
		}
	}
	repo, err := s.clone(ctx, c, packRequest{commit: want}, auth, nil)
	if err != nil {
		if c.handedOff || !worthRecloning(err) {
			return Snapshot{}, "", fmt.Errorf("fetching commit %s from %s: %w", want, s.cfg.display, err)
		}
		// Servers refuse a want that is not a ref tip unless configured
		// otherwise (uploadpack.allowReachableSHA1InWant).
		s.log.Info("server would not send the commit by hash; fetching all branches and tags to find it",
			zap.String("revision", want.String()), zap.String("reason", cleanText(err, c.secrets)))
		repo, err = s.clone(ctx, c, packRequest{commit: want, all: true}, auth, func(repo *git.Repository) error {
			if _, err := repo.CommitObject(want); err != nil {
				return fmt.Errorf("%w: commit %s is on no branch or tag", ErrRefNotFound, want)
			}
			return nil
		})
		if err != nil {
			return Snapshot{}, "", fmt.Errorf("fetching commit %s from %s: %w", want, s.cfg.display, err)
		}
	}
	s.repo = repo
	got, err := s.read(repo)
	if err != nil {
		return Snapshot{}, "", err
	}
	return s.accept(got, name)
}

// clone fetches the full history req asks for into a new repository, points
// its branch at what was fetched, lets prepare (if set) check it, and
// installs it as the cache.
func (s *Source) clone(ctx context.Context, c *call, req packRequest, auth transport.AuthMethod,
	prepare func(*git.Repository) error) (*git.Repository, error) {
	s.stats.clones.Add(1)
	repo, dir, err := s.tempRepo()
	if err != nil {
		return nil, err
	}
	err = c.network(ctx, func(ctx context.Context) error {
		got, err := s.fetchPack(ctx, repo.Storer, req, auth)
		if err == nil {
			err = repo.Storer.SetReference(plumbing.NewHashReference(localRef, got))
		}
		return err
	})
	if err == nil && prepare != nil {
		err = prepare(repo)
	}
	if err != nil {
		if !c.handedOff {
			s.removeTemps()
		}
		return nil, err
	}
	return s.install(dir)
}

// read reads the snapshot the cache's branch points to.
func (s *Source) read(repo *git.Repository) (content, error) {
	tip, err := localTip(repo)
	if err != nil {
		return content{}, fmt.Errorf("reading cache: %w", err)
	}
	commit, err := peelCommit(repo.Storer, tip)
	if err != nil {
		return content{}, fmt.Errorf("reading %s from cache: %w", tip, err)
	}
	snap, err := readSnapshot(s.objectReader(), commit, s.cfg.path)
	if err != nil {
		return content{}, fmt.Errorf("reading files of %s at %s: %w", s.cfg.display, commit.Hash, err)
	}
	if s.history != nil {
		if snap.EverPaths, err = s.history.everPaths(repo.Storer, commit.Hash); err != nil {
			return content{}, fmt.Errorf("reading the history of %s at %s: %w", s.cfg.display, commit.Hash, err)
		}
	}
	return content{tip: tip, commit: commit, snap: snap}, nil
}

// objectReader returns the reader of the current cache, made afresh after
// the cache was replaced.
func (s *Source) objectReader() *objectReader {
	if gen := s.gen.Load(); s.reader == nil || s.reader.gen != gen {
		if s.reader != nil {
			s.reader.close()
		}
		s.reader = newObjectReader(s.repoDir(), gen, &s.gen)
		// The last verified snapshot may be served again (when a later head
		// is refused): let it read the new cache, which holds the same
		// history.
		s.mu.Lock()
		if lv := s.lastVerified; lv != nil {
			if t, ok := lv.FS.(*Tree); ok && s.reader.st.HasEncodedObject(t.root) == nil {
				moved := *lv
				moved.FS = &Tree{r: s.reader, root: t.root}
				s.lastVerified = &moved
			}
		}
		s.mu.Unlock()
	}
	return s.reader
}

// accept checks the signature (when a keyring is set) and makes got the
// current snapshot.
func (s *Source) accept(got content, name plumbing.ReferenceName) (Snapshot, Result, error) {
	snap := got.snap
	snap.Ref = string(name)
	if s.cfg.keyring != "" {
		signer, err := verifyCommit(got.commit, s.cfg.keyring)
		if err != nil {
			err = fmt.Errorf("checking signature of %s %s: %w", s.cfg.display, name, err)
			s.current = nil
			s.rejected = &rejection{name: name, tip: got.tip, err: err}
			s.log.Warn("refusing commit without a trusted signature",
				zap.String("ref", string(name)), zap.String("revision", snap.Revision), zap.Error(err))
			return Snapshot{}, "", err
		}
		snap.SignedBy = signer
	}
	s.current = &accepted{snap: snap, name: name, tip: got.tip}
	s.rejected = nil
	s.mu.Lock()
	s.lastVerified = &snap
	s.mu.Unlock()
	s.log.Info("new revision",
		zap.String("ref", string(name)), zap.String("revision", snap.Revision))
	return snap, Updated, nil
}

// worthRecloning says whether a failed fetch might succeed as a fresh clone:
// not when it timed out or the server refused us.
func worthRecloning(err error) bool {
	return !isTimeout(err) &&
		!errors.Is(err, transport.ErrAuthenticationRequired) &&
		!errors.Is(err, transport.ErrAuthorizationFailed) &&
		!errors.Is(err, transport.ErrRepositoryNotFound) &&
		!errors.Is(err, transport.ErrEmptyRemoteRepository)
}
