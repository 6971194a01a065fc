package emulator

import (
	"context"
	"fmt"
	"slices"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// registryService is the registry's repos and build reports. Everything else
// is Unimplemented.
type registryService struct {
	registryv1.UnimplementedRegistryServer
	s *Server
}

// CreateRepo creates req.repo under the group req.parent_id. On a name
// collision it replaces the existing repo (keeping its id and create_time),
// or fails with AlreadyExists when prevent_existing is set. A sync_config
// must name a source (see sources.go): the repo is then a Custom Assembly
// repo syncing from it, with the sync_config the server completes, and its
// builds start. A non-empty custom_overlay is checked as UpdateRepo checks
// it.
func (r *registryService) CreateRepo(ctx context.Context, req *registryv1.CreateRepoRequest) (*registryv1.Repo, error) {
	repo, err := r.s.createRepo(req.GetParentId(), req.GetRepo(), createOptions{preventExisting: req.GetPreventExisting(), check: true})
	if err != nil {
		return nil, err
	}
	r.s.events.emit(newEvent(EventRepoCreated, repo.GetId(), actorOf(ctx), repo))
	return repo, nil
}

// ListRepos returns the repos matching every field set in the filter: uidp
// as in common.UIDPFilter, name and id exactly. Sorted by name, then id.
func (r *registryService) ListRepos(_ context.Context, f *registryv1.RepoFilter) (*registryv1.RepoList, error) {
	st := r.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	items := sortedClones(repos(st.reposLocked(f.GetId(), f.GetName(), f.GetUidp())), matchingNamed[*registryv1.Repo](f), byNameThenID)
	return &registryv1.RepoList{Items: items}, nil
}

// UpdateRepo is a full PUT: the repo is stored exactly as sent, unknown
// fields included byte for byte, except id and create_time, which the
// server owns. See update.
func (r *registryService) UpdateRepo(ctx context.Context, repo *registryv1.Repo) (*registryv1.Repo, error) {
	return r.s.update(actorOf(ctx), repo)
}

// DeleteRepo deletes a repo and its build reports, stopping its builds.
func (r *registryService) DeleteRepo(ctx context.Context, req *registryv1.DeleteRepoRequest) (*emptypb.Empty, error) {
	return r.s.deleteRepo(actorOf(ctx), req.GetId(), req)
}

// ListBuildReports lists the reports matching the filter, newest first.
func (r *registryService) ListBuildReports(_ context.Context, f *registryv1.BuildReportFilter) (*registryv1.BuildReportList, error) {
	return &registryv1.BuildReportList{Reports: r.s.builds.list(f, r.s.opts.ReportRetention)}, nil
}

// GetBuildStatus counts the failed builds per repo among the reports
// matching the filter.
func (r *registryService) GetBuildStatus(_ context.Context, f *registryv1.BuildReportFilter) (*registryv1.BuildStatus, error) {
	return r.s.builds.status(f, r.s.opts.ReportRetention), nil
}

// update is a v1 UpdateRepo by actor: next is stored over the repo with
// the same id after checkUpdate, exactly as sent but for id and
// create_time, builds start, and the repo.updated event goes out. The
// unknown fields of v2 messages that still exist are kept.
func (s *Server) update(actor Actor, next *registryv1.Repo) (*registryv1.Repo, error) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	id := next.GetId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "repo id is required")
	}
	rec, ok := st.repos[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "repo %q not found", id)
	}
	if err := st.checkNameLocked(id, next.GetName()); err != nil {
		return nil, err
	}
	if err := checkUpdate(st.orgOfLocked(id), rec.repo, next); err != nil {
		return nil, err
	}
	repo := proto.Clone(next).(*registryv1.Repo)
	repo.CreateTime = rec.repo.GetCreateTime()
	v2 := v1ToV2(repo).ProtoReflect()
	for p := range rec.v2unknown {
		if !messageAt(v2, p, false).IsValid() {
			delete(rec.v2unknown, p)
		}
	}
	s.commitLocked(rec, repo)
	out := proto.Clone(repo).(*registryv1.Repo)
	s.events.emit(newEvent(EventRepoUpdated, id, actor, out))
	return out, nil
}

// checkNameLocked checks a repo's new name: required, and unique in its
// group.
func (st *store) checkNameLocked(id, name string) error {
	if name == "" {
		return status.Error(codes.InvalidArgument, "repo name is required")
	}
	if other := st.repoByNameLocked(uidp.Parent(id), name); other != nil && other.repo.GetId() != id {
		return status.Errorf(codes.AlreadyExists, "repo %q already exists in %s", name, uidp.Parent(id))
	}
	return nil
}

// commitLocked makes repo the record's new state, stamps the update time
// and starts one build per active tag. A cleared overlay on a Custom
// Assembly repo is stored as an empty message, as the real service reads
// it back.
func (s *Server) commitLocked(rec *repoRecord, repo *registryv1.Repo) {
	if repo.CustomOverlay == nil && repo.GetSyncConfig().GetApkoOverlay() != "" {
		repo.CustomOverlay = &registryv1.CustomOverlay{}
	}
	old := rec.repo.GetName()
	rec.repo = repo
	rec.updated = s.now()
	s.store.renameLocked(rec, old)
	s.builds.startLocked(rec)
}

// createOptions are the choices of one create.
type createOptions struct {
	preventExisting bool // AlreadyExists on a name collision, instead of replacing
	check           bool // the API's checks; off for admin methods and seeds
	v2unknown       map[string][]byte
}

// createRepo implements CreateRepo.
func (s *Server) createRepo(parent string, in *registryv1.Repo, opts createOptions) (*registryv1.Repo, error) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := s.createLocked(parent, in, opts)
	if err != nil {
		return nil, err
	}
	return proto.Clone(rec.repo).(*registryv1.Repo), nil
}

// createLocked stores in as a new repo under the group parent, or over the
// repo of the same name there.
func (s *Server) createLocked(parent string, in *registryv1.Repo, opts createOptions) (*repoRecord, error) {
	st := s.store
	if _, ok := st.groups[parent]; !ok {
		return nil, status.Errorf(codes.NotFound, "group %q not found", parent)
	}
	if in.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "repo name is required")
	}
	if opts.preventExisting && st.repoByNameLocked(parent, in.GetName()) != nil {
		return nil, status.Errorf(codes.AlreadyExists, "repo %q already exists in %s", in.GetName(), parent)
	}
	var src *repoRecord // the org repo it is created from, if any
	if opts.check && in.GetSyncConfig() != nil {
		if in.GetSyncConfig().GetSource() == "" {
			return nil, status.Error(codes.InvalidArgument, "sync_config.source is required")
		}
		var err error
		if in, src, err = s.fromSourceLocked(parent, in); err != nil {
			return nil, err
		}
	}
	if opts.check {
		if err := checkOverlay(st.orgOfLocked(parent), in.GetSyncConfig(), in.GetCustomOverlay(), true, hasOverlayUnknown(opts.v2unknown)); err != nil {
			return nil, err
		}
	}
	repo := proto.Clone(in).(*registryv1.Repo)
	rec := st.repoByNameLocked(parent, in.GetName())
	switch {
	case rec != nil && opts.preventExisting:
		return nil, status.Errorf(codes.AlreadyExists, "repo %q already exists in %s", in.GetName(), parent)
	case rec != nil:
		repo.Id = rec.repo.GetId()
		repo.CreateTime = rec.repo.GetCreateTime()
		rec.repo, rec.updated, rec.v2unknown = repo, s.now(), opts.v2unknown
	default:
		repo.Id = string(uidp.NewUIDP(uidp.UIDP(parent)))
		repo.CreateTime = timestamppb.New(s.now())
		rec = &repoRecord{repo: repo, updated: s.now(), v2unknown: opts.v2unknown}
		st.addRepoLocked(rec)
	}
	if src != nil {
		rec.basePackages, rec.archs = slices.Clone(src.basePackages), slices.Clone(src.archs)
	}
	if opts.check {
		if repo.CustomOverlay == nil && repo.GetSyncConfig().GetApkoOverlay() != "" {
			repo.CustomOverlay = &registryv1.CustomOverlay{}
		}
		if repo.GetSyncConfig().GetApkoOverlay() != "" {
			s.builds.startLocked(rec) // a new Custom Assembly image builds
		}
	}
	return rec, nil
}

// deleteRepo is DeleteRepo of either registry version: it deletes the repo
// id and its build reports, stopping its builds, then emits
// EventRepoDeleted with the request req as its body.
func (s *Server) deleteRepo(actor Actor, id string, req proto.Message) (*emptypb.Empty, error) {
	if err := s.deleteRepoRecord(id); err != nil {
		return nil, err
	}
	s.events.emit(newEvent(EventRepoDeleted, id, actor, req))
	return &emptypb.Empty{}, nil
}

// deleteRepoRecord deletes a repo and its build reports, stopping its builds.
func (s *Server) deleteRepoRecord(id string) error {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.repos[id]; !ok {
		return status.Errorf(codes.NotFound, "repo %q not found", id)
	}
	st.deleteRepoLocked(id)
	s.builds.forgetRepoLocked(id)
	return nil
}

// CreateRepo creates r under the group parentID (an organization or a
// group in it) without the API's checks, so that tests can set up any state,
// and returns the stored repo with its new id. It panics when parentID is not
// a group, r has no name, or the name is taken: those are mistakes in a test.
func (s *Server) CreateRepo(parentID string, r *registryv1.Repo) *registryv1.Repo {
	repo, err := s.createRepo(parentID, r, createOptions{preventExisting: true})
	if err != nil {
		panic(fmt.Sprintf("emulator.CreateRepo: %v", err))
	}
	return repo
}

// Repo returns a copy of the stored repo, or nil when there is none.
func (s *Server) Repo(id string) *registryv1.Repo {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.repos[id]
	if !ok {
		return nil
	}
	return proto.Clone(rec.repo).(*registryv1.Repo)
}

// ConsoleEdit replaces a repo's overlay the way a person in the Console
// would: through the same checks as UpdateRepo, starting builds, and
// emitting the repo.updated event with ConsoleActor. co replaces the
// overlay as a whole, unknown fields included; every other field of the
// repo is kept. The error is the gRPC status the API would return,
// unwrapped.
func (s *Server) ConsoleEdit(repoID string, co *registryv1.CustomOverlay) error {
	return s.ConsoleEditBy(ConsoleActor, repoID, co)
}

// ConsoleEditBy is ConsoleEdit by a given person: the actor of the event.
func (s *Server) ConsoleEditBy(actor Actor, repoID string, co *registryv1.CustomOverlay) error {
	current := s.Repo(repoID)
	if current == nil {
		return status.Errorf(codes.NotFound, "repo %q not found", repoID)
	}
	current.CustomOverlay = proto.Clone(co).(*registryv1.CustomOverlay)
	_, err := s.update(actor, current)
	return err
}
