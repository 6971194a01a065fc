package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Creating a repo from a source is how Custom Assembly starts: CreateRepo
// with sync_config.source makes a new Custom Assembly repo that syncs from,
// and rebuilds, the source image. v2's SyncConfig.source documents what the
// service accepts: "a repository UIDP, a catalog name (e.g.
// "chainguard/nginx"), or a full image reference (e.g.
// "cgr.dev/chainguard/nginx"); always stored and returned as a UIDP. The
// caller's organization must have an active entitlement for the source
// repository, or the caller must have pull access to it." The emulator
// takes, in this order:
//
//   - the UIDP of a repo of the organization, or of a catalog image;
//   - "chainguard/NAME" or "cgr.dev/chainguard/NAME": catalog image NAME;
//   - "cgr.dev/ORG/NAME" or "ORG/NAME", ORG the organization's name: its
//     repo NAME;
//   - NAME: the repo NAME of the group the repo is created in, else the
//     only repo NAME of the organization, else catalog image NAME.
//
// A catalog image is one of the organization's source images (the seed's
// source_images, SetSourceImages): the Chainguard images it is entitled to.
// Anything else is refused: PermissionDenied when the source exists but the
// organization may not use it (a repo of another organization, a catalog
// image that another organization is entitled to), NotFound when nothing by
// that name exists. The emulator chose these codes; the service's are not
// published.

// catalogGroup is the UIDP of Chainguard's public catalog group, under which
// the catalog images' UIDPs are made.
const catalogGroup = "720909c9f5279097d847ad02a2f24ba8f59de36a"

// serverApkoOverlay is the sync_config.apko_overlay the emulator sets on a
// repo it creates from a source, which makes it a Custom Assembly repo.
const serverApkoOverlay = "contents: {}"

// syncExpiration is how long a new repo syncs from its source: "Defaults to
// 14 days from creation" (v2 SyncConfig.expiration_time).
const syncExpiration = 14 * 24 * time.Hour

// catalogImageID is the UIDP of catalog image name: the same for every
// organization.
func catalogImageID(name string) string {
	sum := sha256.Sum256([]byte("catalog image\x00" + name))
	return catalogGroup + "/" + hex.EncodeToString(sum[:8])
}

// source is what a sync_config.source resolved to.
type source struct {
	id   string      // stored as sync_config.source
	name string      // for build logs
	rec  *repoRecord // the org's repo, or nil for a catalog image
}

// resolveSourceLocked resolves ref for a repo created under parent.
func (st *store) resolveSourceLocked(parent, ref string) (source, error) {
	root := uidp.Root(parent)
	o := st.orgs[root]
	orgName := st.groups[root].GetName()
	entitled := func(name string) bool { return o != nil && o.sourceImages[name] }
	catalog := func(name string) (source, error) {
		if entitled(name) {
			return source{id: catalogImageID(name), name: "chainguard/" + name}, nil
		}
		return source{}, st.refuseSourceLocked(orgName, ref, name)
	}
	if uidp.Valid(ref) {
		if rec, ok := st.repos[ref]; ok {
			if uidp.Root(ref) != root {
				return source{}, status.Errorf(codes.PermissionDenied, "organization %q is not entitled to source repository %q", orgName, ref)
			}
			return source{id: ref, name: rec.repo.GetName(), rec: rec}, nil
		}
		for name := range st.publishedLocked() {
			if catalogImageID(name) == ref {
				return catalog(name)
			}
		}
		return source{}, status.Errorf(codes.NotFound, "source repository %q not found", ref)
	}
	name := strings.TrimPrefix(ref, "cgr.dev/")
	if n, ok := strings.CutPrefix(name, "chainguard/"); ok {
		return catalog(n)
	}
	if n, ok := strings.CutPrefix(name, orgName+"/"); ok && orgName != "" {
		name = n
	} else if strings.Contains(name, "/") {
		return source{}, status.Errorf(codes.NotFound, "source repository %q not found", ref)
	}
	if rec := st.repoByNameLocked(parent, name); rec != nil {
		return source{id: rec.repo.GetId(), name: name, rec: rec}, nil
	}
	var found []*repoRecord
	for _, rec := range st.reposLocked("", name, nil) {
		if rec.repo.GetName() == name && uidp.Root(rec.repo.GetId()) == root {
			found = append(found, rec)
		}
	}
	switch len(found) {
	case 1:
		return source{id: found[0].repo.GetId(), name: name, rec: found[0]}, nil
	case 0:
		return catalog(name)
	}
	return source{}, status.Errorf(codes.InvalidArgument, "source %q names %d repos of organization %q; use the repo's id", ref, len(found), orgName)
}

// refuseSourceLocked is the error for a catalog image the organization may
// not use: PermissionDenied when Chainguard publishes it (some organization
// is entitled to it), NotFound otherwise.
func (st *store) refuseSourceLocked(orgName, ref, name string) error {
	if st.publishedLocked()[name] {
		return status.Errorf(codes.PermissionDenied, "organization %q is not entitled to source repository %q", orgName, ref)
	}
	return status.Errorf(codes.NotFound, "source repository %q not found", ref)
}

// publishedLocked is every catalog image some organization may use.
func (st *store) publishedLocked() map[string]bool {
	out := map[string]bool{}
	for _, o := range st.orgs {
		for name := range o.sourceImages {
			out[name] = true
		}
	}
	return out
}

// fromSourceLocked makes the repo that CreateRepo stores for a request that
// names a source: the source resolved to its UIDP, sync_config completed
// by the server as for a Custom Assembly repo (the caller keeps only the
// destinations google, amazon and azure), and the fields a syncing repo
// inherits (tier, bundles, aliases, active tags, and the description when
// none is given) taken from the source repo, whose record it returns (nil
// for a catalog image) so that the new repo builds on the same base.
func (s *Server) fromSourceLocked(parent string, in *registryv1.Repo) (*registryv1.Repo, *repoRecord, error) {
	src, err := s.store.resolveSourceLocked(parent, in.GetSyncConfig().GetSource())
	if err != nil {
		return nil, nil, err
	}
	out := &registryv1.Repo{
		Name:          in.GetName(),
		Description:   in.GetDescription(),
		Readme:        in.GetReadme(),
		CustomOverlay: in.GetCustomOverlay(),
		SyncConfig: &registryv1.SyncConfig{
			Source:      src.id,
			ApkoOverlay: serverApkoOverlay,
			Expiration:  timestamppb.New(s.now().Add(syncExpiration)),
			Google:      in.GetSyncConfig().GetGoogle(),
			Amazon:      in.GetSyncConfig().GetAmazon(),
			Azure:       in.GetSyncConfig().GetAzure(),
		},
		// The emulator knows nothing of a catalog image but its name: it
		// takes the caller's tier, bundles, aliases and tags for it.
		CatalogTier: in.GetCatalogTier(),
		Bundles:     in.GetBundles(),
		Aliases:     in.GetAliases(),
		ActiveTags:  in.GetActiveTags(),
	}
	if len(out.ActiveTags) == 0 {
		out.ActiveTags = []string{"latest"}
	}
	out.ProtoReflect().SetUnknown(in.ProtoReflect().GetUnknown())
	out.SyncConfig.ProtoReflect().SetUnknown(in.GetSyncConfig().ProtoReflect().GetUnknown())
	if src.rec != nil {
		r := src.rec.repo
		out.CatalogTier = r.GetCatalogTier()
		out.Bundles = r.GetBundles()
		out.Aliases = r.GetAliases()
		out.ActiveTags = r.GetActiveTags()
		if out.Description == "" {
			out.Description = r.GetDescription()
		}
	}
	return out, src.rec, nil
}

// SetSourceImages replaces the Chainguard catalog images an organization
// is entitled to, which CreateRepo takes as sources, and returns their
// UIDPs in the order given.
func (s *Server) SetSourceImages(orgID string, names ...string) ([]string, error) {
	err := s.store.withOrg("setting source images", orgID, func(o *org) error {
		o.sourceImages = setOf(names)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = catalogImageID(n)
	}
	return ids, nil
}

// SourceImageID is the UIDP the emulator gives catalog image name, as
// CreateRepo stores it in sync_config.source.
func SourceImageID(name string) string { return catalogImageID(name) }
