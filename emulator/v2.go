package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

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
	// pageTokenTTL is how long a page token stays valid ("Opaque token with
	// 3-day expiration").
	pageTokenTTL = 72 * time.Hour
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

// pageToken is the opaque cursor of ListRepos: the sort key of the last
// repo returned, what the request was (a token is only good for the same
// filter and order), how many were skipped so far, and when it was made.
type pageToken struct {
	After   []string `json:"a"`
	Request string   `json:"r"`
	Skipped int32    `json:"s"`
	Issued  int64    `json:"t"`
}

// ListRepos lists the repos matching the filter (uidp as
// common.UIDPFilter, name exactly), ordered by order_by ("uid", "name",
// "create_time" or "update_time", then "asc" or "desc"; default "uid asc"),
// page_size at a time (default 50, at most 200: more is clamped), from the
// cursor of page_token, after skipping skip more.
func (x *reposV2Service) ListRepos(_ context.Context, req *registryv2.ListReposRequest) (*registryv2.ListReposResponse, error) {
	field, desc, err := parseOrderBy(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	if req.GetPageSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	if req.GetSkip() < 0 {
		return nil, status.Error(codes.InvalidArgument, "skip must not be negative")
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	fingerprint := listFingerprint(req)
	var tok pageToken
	if req.GetPageToken() != "" {
		if tok, err = decodePageToken(req.GetPageToken()); err != nil || tok.Request != fingerprint {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token: it does not belong to this filter and order_by")
		}
		if x.s.now().Sub(time.Unix(tok.Issued, 0)) > pageTokenTTL {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token: expired")
		}
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
	sort.Slice(all, func(i, j int) bool {
		c := slices.Compare(key(all[i]), key(all[j]))
		if desc {
			return c > 0
		}
		return c < 0
	})
	rest := all
	if tok.After != nil {
		i := sort.Search(len(all), func(i int) bool {
			c := slices.Compare(key(all[i]), tok.After)
			if desc {
				return c < 0
			}
			return c > 0
		})
		rest = all[i:]
	}
	skip := min(int(req.GetSkip()), len(rest))
	rest = rest[skip:]
	page := rest[:min(size, len(rest))]
	resp := &registryv2.ListReposResponse{
		TotalCount: proto.Int64(int64(len(all))),
		Skipped:    tok.Skipped + int32(skip),
	}
	for _, rec := range page {
		resp.Repos = append(resp.Repos, v2RepoLocked(rec))
	}
	if len(rest) > len(page) {
		resp.NextPageToken = encodePageToken(pageToken{
			After:   key(page[len(page)-1]),
			Request: fingerprint,
			Skipped: resp.Skipped,
			Issued:  x.s.now().Unix(),
		})
	}
	return resp, nil
}

// parseOrderBy reads "field [asc|desc]".
func parseOrderBy(s string) (field string, desc bool, err error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return "uid", false, nil
	}
	field = parts[0]
	switch field {
	case "uid", "name", "create_time", "update_time":
	default:
		return "", false, status.Errorf(codes.InvalidArgument, "order_by: unknown field %q (known: uid, name, create_time, update_time)", field)
	}
	switch {
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == "asc"):
		return field, false, nil
	case len(parts) == 2 && parts[1] == "desc":
		return field, true, nil
	}
	return "", false, status.Errorf(codes.InvalidArgument, "order_by: want \"field [asc|desc]\", got %q", s)
}

// sortKey orders repos by field, then uid, so that the order is total.
func sortKey(rec *repoRecord, field string) []string {
	id := rec.repo.GetId()
	switch field {
	case "name":
		return []string{rec.repo.GetName(), id}
	case "create_time":
		return []string{rec.repo.GetCreateTime().AsTime().UTC().Format(time.RFC3339Nano), id}
	case "update_time":
		return []string{rec.updated.UTC().Format(time.RFC3339Nano), id}
	}
	return []string{id}
}

// listFingerprint identifies the filter and order of a ListRepos request.
func listFingerprint(req *registryv2.ListReposRequest) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&registryv2.ListReposRequest{
		Uidp: req.GetUidp(), Name: req.Name, OrderBy: req.GetOrderBy(),
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func encodePageToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("decoding page token: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("decoding page token: %w", err)
	}
	return t, nil
}

// CreateRepo creates req.repo under the group req.parent, checked as v1
// checks it; a name already taken in the group is AlreadyExists. The
// request's unknown fields are kept for v2 reads.
func (x *reposV2Service) CreateRepo(_ context.Context, req *registryv2.CreateRepoRequest) (*registryv2.Repo, error) {
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
	return v2RepoLocked(rec), nil
}

// DeleteRepo deletes a repo by uid.
func (x *reposV2Service) DeleteRepo(_ context.Context, req *registryv2.DeleteRepoRequest) (*emptypb.Empty, error) {
	if err := x.s.deleteRepo(req.GetUid()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// UpdateRepo is a PATCH of the fields update_mask names (see resolveMask)
// onto the stored repo: every other field of the stored message is kept,
// its unknown fields included, and the result passes the same rules as a
// v1 write. Output-only fields in the mask are ignored; fields a syncing
// repo inherits from its source cannot change, nor can sync_config.source.
func (x *reposV2Service) UpdateRepo(_ context.Context, req *registryv2.UpdateRepoRequest) (*registryv2.Repo, error) {
	return x.s.patch(req)
}

func (s *Server) patch(req *registryv2.UpdateRepoRequest) (*registryv2.Repo, error) {
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
	return v2RepoLocked(rec), nil
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
