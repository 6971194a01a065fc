package emulator

import (
	"context"
	"slices"
	"strings"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reposV2Prefix is the full-method prefix of the v2 ReposService.
const reposV2Prefix = "/chainguard.platform.registry.v2.ReposService/"

// Page sizes of v2 ListRepos, as repos.proto documents them.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// reposV2Service is chainguard.platform.registry.v2.ReposService over the
// same store as v1: GetRepo, ListRepos, CreateRepo, UpdateRepo (a PATCH)
// and DeleteRepo. ListCatalogImages and the README methods are
// Unimplemented.
type reposV2Service struct {
	registryv2.UnimplementedReposServiceServer
	s *Server
}

// v2Interceptor answers every v2 call with Unimplemented while v2 is off,
// exactly as a server without the service does.
func (s *Server) v2Interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if strings.HasPrefix(info.FullMethod, reposV2Prefix) && s.v2Off.Load() {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", registryv2.ReposService_ServiceDesc.ServiceName)
	}
	return handler(ctx, req)
}

// SetRegistryV2 turns the v2 ReposService on or off (on by default; see
// Options.DisableRegistryV2), so that a client's fallback to v1 can be
// tested.
func (s *Server) SetRegistryV2(on bool) { s.v2Off.Store(!on) }

// v2RepoLocked is a record in its v2 form: the stored v1 fields converted
// by name, the unknown fields v2 writes sent, and the update time.
func v2RepoLocked(rec *repoRecord) *registryv2.Repo {
	r := v1ToV2(rec.repo)
	for p, b := range rec.v2unknown {
		messageAt(r.ProtoReflect(), p, true).SetUnknown(b)
	}
	if !rec.updated.IsZero() {
		r.UpdateTime = timestamppb.New(rec.updated)
	}
	return r
}

// GetRepo returns one repo by uid.
func (x *reposV2Service) GetRepo(_ context.Context, req *registryv2.GetRepoRequest) (*registryv2.Repo, error) {
	st := x.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.repos[req.GetUid()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "repo %q not found", req.GetUid())
	}
	return v2RepoLocked(rec), nil
}

// ListRepos lists the repos matching the filter (uidp as
// common.UIDPFilter, name exactly), ordered by order_by ("uid", "name",
// "create_time" or "update_time", then "asc" or "desc"; default "uid asc"),
// page_size at a time (default 50, at most 200: more is clamped), from the
// cursor of page_token, after skipping skip more (see paging.go).
func (x *reposV2Service) ListRepos(_ context.Context, req *registryv2.ListReposRequest) (*registryv2.ListReposResponse, error) {
	field, desc, err := parseOrderBy(req.GetOrderBy(), "uid", "name", "create_time", "update_time")
	if err != nil {
		return nil, err
	}
	st := x.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var all []*repoRecord
	for _, rec := range st.reposLocked("", req.GetName(), req.GetUidp()) {
		if req.Name != nil && rec.repo.GetName() != req.GetName() {
			continue
		}
		if !matchUIDP(req.GetUidp(), rec.repo.GetId()) {
			continue
		}
		all = append(all, rec)
	}
	key := func(rec *repoRecord) []string { return sortKey(rec, field) }
	sortByKey(all, key, desc)
	page, err := paginate(all, key, desc, pageRequest{
		size:        req.GetPageSize(),
		skip:        req.GetSkip(),
		token:       req.GetPageToken(),
		defaultSize: defaultPageSize,
		maxSize:     maxPageSize,
		fingerprint: fingerprint(&registryv2.ListReposRequest{Uidp: req.GetUidp(), Name: req.Name, OrderBy: req.GetOrderBy()}),
	}, x.s.now())
	if err != nil {
		return nil, err
	}
	resp := &registryv2.ListReposResponse{
		TotalCount:    proto.Int64(int64(len(all))),
		Skipped:       page.skipped,
		NextPageToken: page.next,
	}
	for _, rec := range page.items {
		resp.Repos = append(resp.Repos, v2RepoLocked(rec))
	}
	return resp, nil
}

// sortableTime formats times so that they sort as strings.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

// sortKey orders repos by field, then uid, so that the order is total.
func sortKey(rec *repoRecord, field string) []string {
	id := rec.repo.GetId()
	switch field {
	case "name":
		return []string{rec.repo.GetName(), id}
	case "create_time":
		return []string{rec.repo.GetCreateTime().AsTime().UTC().Format(sortableTime), id}
	case "update_time":
		return []string{rec.updated.UTC().Format(sortableTime), id}
	}
	return []string{id}
}

// CreateRepo creates req.repo under the group req.parent, checked as v1
// checks it; a name already taken in the group is AlreadyExists. The
// request's unknown fields are kept for v2 reads.
func (x *reposV2Service) CreateRepo(ctx context.Context, req *registryv2.CreateRepoRequest) (*registryv2.Repo, error) {
	st := x.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := x.s.createLocked(req.GetParent(), v2ToV1(req.GetRepo()), createOptions{
		preventExisting: true,
		check:           true,
		v2unknown:       unknownByPath(proto.Clone(req.GetRepo()).ProtoReflect()),
	})
	if err != nil {
		return nil, err
	}
	out := v2RepoLocked(rec)
	x.s.events.emit(newEvent(EventRepoCreated, out.GetUid(), actorOf(ctx), out))
	return out, nil
}

// DeleteRepo deletes a repo by uid.
func (x *reposV2Service) DeleteRepo(ctx context.Context, req *registryv2.DeleteRepoRequest) (*emptypb.Empty, error) {
	return x.s.deleteRepo(actorOf(ctx), req.GetUid(), req)
}

// UpdateRepo is a PATCH of the fields update_mask names (see resolveMask)
// onto the stored repo: every other field of the stored message is kept,
// its unknown fields included, and the result passes the same rules as a
// v1 write. Output-only fields in the mask are ignored; fields a syncing
// repo inherits from its source cannot change, nor can sync_config.source.
func (x *reposV2Service) UpdateRepo(ctx context.Context, req *registryv2.UpdateRepoRequest) (*registryv2.Repo, error) {
	return x.s.patch(actorOf(ctx), req)
}

func (s *Server) patch(actor Actor, req *registryv2.UpdateRepoRequest) (*registryv2.Repo, error) {
	uid := req.GetRepo().GetUid()
	if uid == "" {
		return nil, status.Error(codes.InvalidArgument, "repo.uid is required")
	}
	paths, err := resolveMask(req)
	if err != nil {
		return nil, err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.repos[uid]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "repo %q not found", uid)
	}
	src := v2ToV1(req.GetRepo())
	next := proto.Clone(rec.repo).(*registryv1.Repo)
	kept := unknownByPath(next.ProtoReflect())
	for _, p := range paths {
		if err := checkPatchPath(rec.repo, src, p); err != nil {
			return nil, err
		}
		if pathString(p.v1) == "sync_config" {
			// Only the fields a caller may set: the rest are Chainguard's.
			for _, f := range []string{"source", "google", "amazon", "azure"} {
				fd := p.v1[0].Message().Fields().ByName(protoreflectName(f))
				applyPath(next.ProtoReflect(), src.ProtoReflect(), append(p.v1[:1:1], fd))
			}
			continue
		}
		applyPath(next.ProtoReflect(), src.ProtoReflect(), p.v1)
	}
	restoreUnknown(next.ProtoReflect(), kept)
	if err := st.checkNameLocked(uid, next.GetName()); err != nil {
		return nil, err
	}
	v2unknown := patchUnknown(rec.v2unknown, req, paths)
	if err := checkOverlay(st.orgOfLocked(uid), next.GetSyncConfig(), next.GetCustomOverlay(), false, hasOverlayUnknown(v2unknown)); err != nil {
		return nil, err
	}
	rec.v2unknown = v2unknown
	s.commitLocked(rec, next)
	out := v2RepoLocked(rec)
	s.events.emit(newEvent(EventRepoUpdated, uid, actor, out))
	return out, nil
}

// hasOverlayUnknown reports whether v2 unknown fields sit in the overlay.
func hasOverlayUnknown(v2unknown map[string][]byte) bool {
	for p := range v2unknown {
		if p == "custom_overlay" || strings.HasPrefix(p, "custom_overlay.") {
			return true
		}
	}
	return false
}

// checkPatchPath refuses changes to what a repo that syncs from a source
// inherits, and to the source itself.
func checkPatchPath(stored, src *registryv1.Repo, p maskPath) error {
	top := p.v2
	if i := strings.IndexByte(top, '.'); i >= 0 {
		top = top[:i]
	}
	if stored.GetSyncConfig().GetSource() != "" && slices.Contains(v2Inherited, top) {
		fd := p.v1[0]
		if !equalValue(stored.ProtoReflect(), src.ProtoReflect(), fd) {
			return status.Errorf(codes.InvalidArgument, "%s is inherited from the source repository and cannot be changed", top)
		}
	}
	if (p.v2 == "sync_config" || p.v2 == "sync_config.source") && src.GetSyncConfig().GetSource() != stored.GetSyncConfig().GetSource() {
		return status.Error(codes.InvalidArgument, "sync_config.source cannot be changed")
	}
	return nil
}

// patchUnknown is the v2 unknown fields after a PATCH: the request's, at
// each message the mask replaces; the stored ones elsewhere.
func patchUnknown(stored map[string][]byte, req *registryv2.UpdateRepoRequest, paths []maskPath) map[string][]byte {
	sent := unknownByPath(proto.Clone(req.GetRepo()).ProtoReflect())
	out := map[string][]byte{}
	for p, b := range stored {
		out[p] = b
	}
	mask := req.GetUpdateMask().GetPaths()
	whole := slices.Contains(mask, "*")
	implied := len(mask) == 0
	for _, q := range append([]string{""}, messagePaths((&registryv2.Repo{}).ProtoReflect().Descriptor(), "")...) {
		replaced := whole
		for _, p := range paths {
			if q == p.v2 || strings.HasPrefix(q, p.v2+".") {
				replaced = true
			}
		}
		if implied && len(sent[q]) > 0 {
			replaced = true
		}
		if !replaced {
			continue
		}
		if b, ok := sent[q]; ok {
			out[q] = b
		} else {
			delete(out, q)
		}
	}
	return out
}
