package chainguard

import (
	"context"
	"fmt"
	"sort"
	"strings"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// Org is a resolved organization.
type Org struct {
	ID   string
	Name string
}

// Repo is what the reconciler needs of a live repo. The SDK's message stays
// inside this package.
type Repo struct {
	ID   string
	Name string
	// CustomAssembly is true when the repo takes a custom overlay (its
	// sync_config.apko_overlay is set).
	CustomAssembly bool
	// Overlay is the live overlay; the zero Overlay when none is set.
	Overlay overlay.Overlay
	// ActiveTags are the tags a write rebuilds.
	ActiveTags []string
	// UnknownFields is the number of fields anywhere in the live
	// custom_overlay that this version does not know (a newer service's
	// Guarded Entrypoint, tag-scoped overlays). Writes keep them; they are
	// never drift.
	UnknownFields int
	// UnknownRepoFields is the number of unknown fields elsewhere in the
	// repo (the repo message itself and sync_config); writes keep them too.
	UnknownRepoFields int
	// Fingerprint identifies the repo's encoding as ListRepos received it
	// (see listCache): two Repos listed by one Client with the same
	// nonzero Fingerprint hold the same values. Zero when unknown (a
	// write's answer, an encoding that could not be fingerprinted).
	Fingerprint uint64
}

// ResolveOrg finds an organization by UIDP id or by exact name.
func (c *Client) ResolveOrg(ctx context.Context, nameOrID string) (Org, error) {
	if nameOrID == "" {
		return Org{}, fmt.Errorf("resolving organization: no organization given")
	}
	filter := &iamv1.GroupFilter{Name: nameOrID}
	if uidp.Valid(nameOrID) {
		filter = &iamv1.GroupFilter{Id: nameOrID}
	}
	list, err := c.clients.IAM().Groups().List(ctx, filter)
	if err != nil {
		return Org{}, fmt.Errorf("resolving organization %q: %w", nameOrID, err)
	}
	var roots []*iamv1.Group
	for _, g := range list.GetItems() {
		if uidp.InRoot(g.GetId()) {
			roots = append(roots, g)
		}
	}
	switch len(roots) {
	case 0:
		return Org{}, fmt.Errorf("resolving organization %q: %w", nameOrID, ErrNotFound)
	case 1:
		return Org{ID: roots[0].GetId(), Name: roots[0].GetName()}, nil
	default:
		ids := make([]string, len(roots))
		for i, g := range roots {
			ids[i] = g.GetId()
		}
		return Org{}, fmt.Errorf("resolving organization %q: %d organizations have that name (%s); pass the id", nameOrID, len(roots), strings.Join(ids, ", "))
	}
}

// ListOption changes what ListRepos keeps.
type ListOption func(*listOptions)

type listOptions struct {
	share func(repo string) (overlay.Overlay, bool)
}

// ShareOverlays has ListRepos keep, for a repo it decodes, the overlay
// held(name) returns in place of the decoded one when the two are the same
// value (reflect.DeepEqual): an overlay the caller already holds, such as
// the desired overlay of a repo in sync, is then held once.
func ShareOverlays(held func(repo string) (overlay.Overlay, bool)) ListOption {
	return func(o *listOptions) { o.share = held }
}

// ListRepos lists every repo of the organization with its overlay, in one
// call, sorted by name. The slices and maps of a returned Repo may be shared
// with the results of later calls (an unchanged repo is not decoded again)
// and, with ShareOverlays, with the caller's overlays: read them, never
// change them.
func (c *Client) ListRepos(ctx context.Context, orgID string, opts ...ListOption) ([]Repo, error) {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	// The SDK's client would decode every repo; the answer is kept encoded
	// instead, on the same connection and through the same interceptors,
	// and only the repos that changed since the last call are decoded
	// (listCache).
	var list rawList
	defer list.free()
	err := c.clients.Connection().Invoke(ctx, registryv1.Registry_ListRepos_FullMethodName, &registryv1.RepoFilter{
		Uidp: &commonv1.UIDPFilter{DescendantsOf: orgID},
	}, &list, grpc.StaticMethod(), grpc.ForceCodecV2(c.codec))
	if err != nil {
		return nil, fmt.Errorf("listing repos of %s: %w", orgID, err)
	}
	repos, err := c.list.repos(orgID, list.bytes(), o.share)
	if err != nil {
		return nil, fmt.Errorf("listing repos of %s: %w", orgID, err)
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
	return repos, nil
}

func fromProtoV2(r *registryv2.Repo) Repo {
	return repoFrom(r, r.GetUid(), overlaypb.FromProtoV2)
}

func fromProto(r *registryv1.Repo) Repo {
	return repoFrom(r, r.GetId(), overlaypb.FromProto)
}

// repoMessage is what repoFrom asks of either registry version's Repo; the
// versions differ in the name of the id field, so repoFrom is given the id.
type repoMessage[O proto.Message, S syncConfigMessage] interface {
	proto.Message
	GetName() string
	GetSyncConfig() S
	GetCustomOverlay() O
	GetActiveTags() []string
}

type syncConfigMessage interface{ GetApkoOverlay() string }

// repoFrom is fromProto for either registry version: overlayFrom converts
// that version's custom overlay.
func repoFrom[R repoMessage[O, S], O proto.Message, S syncConfigMessage](r R, id string, overlayFrom func(O) overlay.Overlay) Repo {
	inOverlay := overlaypb.UnknownFields(r.GetCustomOverlay())
	return Repo{
		ID:                id,
		Name:              r.GetName(),
		CustomAssembly:    r.GetSyncConfig().GetApkoOverlay() != "",
		Overlay:           overlayFrom(r.GetCustomOverlay()),
		ActiveTags:        append([]string(nil), r.GetActiveTags()...),
		UnknownFields:     inOverlay,
		UnknownRepoFields: overlaypb.UnknownFields(r) - inOverlay,
	}
}

// WriteOverlay sets the fields of the repo's custom overlay that the file
// format covers, and nothing else, and returns the repo as the server
// answered.
//
// It writes through registry v2 when it can: GetRepo, then UpdateRepo as a
// PATCH whose update_mask names only the covered overlay paths
// (overlaypb.CoveredPathsV2), so a Console edit of any other field between
// the read and the write is never overwritten, and the server's unknown
// fields outside those paths are never sent. The read is there only to carry
// the unknown fields of entries that survive (a user, a certificate) into
// the entries sent (overlaypb.ApplyV2).
//
// It falls back to v1 read-modify-write (writeV1) for an overlay that v2
// cannot express exactly (overlaypb.CheckV2: a user without a gid, ids above
// 2^31-1), and for good, for this client, once the server answers
// Unimplemented to v2.
func (c *Client) WriteOverlay(ctx context.Context, repoID string, o overlay.Overlay) (Repo, error) {
	if !c.v1Only.Load() && overlaypb.CheckV2(o) == nil {
		repo, err := c.writeV2(ctx, repoID, o)
		if Code(err) != codes.Unimplemented {
			return repo, err
		}
		if c.v1Only.CompareAndSwap(false, true) {
			c.log.Info("the API does not serve registry v2; writing overlays with v1 read-modify-write",
				zap.String("method", registryv2.ReposService_UpdateRepo_FullMethodName), zap.Error(err))
		}
	}
	return c.writeV1(ctx, repoID, o)
}

// RegistryWrites says which API writes overlays: "v2" (PATCH with an
// update_mask) until the server answers Unimplemented to it, then "v1".
func (c *Client) RegistryWrites() string {
	if c.v1Only.Load() {
		return "v1"
	}
	return "v2"
}

func (c *Client) writeV2(ctx context.Context, repoID string, o overlay.Overlay) (Repo, error) {
	repos := c.v2.ReposService()
	current, err := repos.GetRepo(ctx, &registryv2.GetRepoRequest{Uid: repoID})
	if err != nil {
		if Code(err) == codes.NotFound {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return Repo{}, fmt.Errorf("writing overlay of %s: reading repo %s: %w", repoID, repoID, err)
	}
	mask, err := fieldmaskpb.New(&registryv2.Repo{}, overlaypb.CoveredPathsV2()...)
	if err != nil {
		return Repo{}, fmt.Errorf("writing overlay of %s: %w", repoID, err)
	}
	updated, err := repos.UpdateRepo(ctx, &registryv2.UpdateRepoRequest{
		Repo:       &registryv2.Repo{Uid: repoID, CustomOverlay: overlaypb.ApplyV2(current.GetCustomOverlay(), o)},
		UpdateMask: mask,
	})
	if err != nil {
		return Repo{}, fmt.Errorf("updating repo %s (%s): %w", current.GetName(), repoID, err)
	}
	return fromProtoV2(updated), nil
}

// writeV1 is the read-modify-write through registry v1, whose UpdateRepo is
// a full PUT: the repo is read first (on every call, so every retry starts
// from what the server holds now) and sent back exactly as read, with the
// file's fields merged into its custom_overlay by overlaypb.Apply; every
// other field, including fields this SDK does not know, anywhere in the
// repo, is kept, because the message is cloned, not rebuilt.
func (c *Client) writeV1(ctx context.Context, repoID string, o overlay.Overlay) (Repo, error) {
	current, err := c.readRepo(ctx, repoID)
	if err != nil {
		return Repo{}, fmt.Errorf("writing overlay of %s: %w", repoID, err)
	}
	next := proto.Clone(current).(*registryv1.Repo)
	next.CustomOverlay = overlaypb.Apply(current.GetCustomOverlay(), o)
	updated, err := c.clients.Registry().Registry().UpdateRepo(ctx, next)
	if err != nil {
		return Repo{}, fmt.Errorf("updating repo %s (%s): %w", current.GetName(), repoID, err)
	}
	return fromProto(updated), nil
}

func (c *Client) readRepo(ctx context.Context, repoID string) (*registryv1.Repo, error) {
	list, err := c.clients.Registry().Registry().ListRepos(ctx, &registryv1.RepoFilter{Id: repoID})
	if err != nil {
		return nil, fmt.Errorf("reading repo %s: %w", repoID, err)
	}
	for _, r := range list.GetItems() {
		if r.GetId() == repoID {
			return r, nil
		}
	}
	return nil, fmt.Errorf("reading repo %s: %w", repoID, ErrNotFound)
}
