package emulator

import (
	"context"
	"fmt"

	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// groupsService is IAM Groups: Create and List. Everything else is
// Unimplemented.
type groupsService struct {
	iamv1.UnimplementedGroupsServer
	s *Server
}

// Create makes a group under req.parent (a group UIDP or the exact name of
// one group), or a new organization (root group) when parent is empty.
func (g *groupsService) Create(_ context.Context, req *iamv1.CreateGroupRequest) (*iamv1.Group, error) {
	name := req.GetGroup().GetName()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "group name is required")
	}
	st := g.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	parent := req.GetParent()
	if parent != "" {
		p, err := st.resolveGroupLocked(parent)
		if err != nil {
			return nil, err
		}
		parent = p
	}
	grp := proto.Clone(req.GetGroup()).(*iamv1.Group)
	grp.Id = st.addGroupLocked(parent, grp)
	return proto.Clone(grp).(*iamv1.Group), nil
}

// List returns the groups matching every field set in the filter: id and
// name exactly, uidp as in common.UIDPFilter. Sorted by name, then id.
func (g *groupsService) List(_ context.Context, f *iamv1.GroupFilter) (*iamv1.GroupList, error) {
	st := g.s.store
	return &iamv1.GroupList{Items: lockedClones(&st.mu, st.groups, matchingNamed[*iamv1.Group](f), byNameThenID)}, nil
}

// resolveGroupLocked turns a group UIDP or a unique group name into a UIDP.
func (st *store) resolveGroupLocked(ref string) (string, error) {
	if _, ok := st.groups[ref]; ok {
		return ref, nil
	}
	var found []string
	for id, grp := range st.groups {
		if grp.GetName() == ref {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", status.Errorf(codes.NotFound, "group %q not found", ref)
	default:
		return "", status.Errorf(codes.InvalidArgument, "%d groups are named %q; use the id", len(found), ref)
	}
}

// addGroupLocked stores grp under parent ("" for a new organization) with a
// fresh UIDP and returns that id.
func (st *store) addGroupLocked(parent string, grp *iamv1.Group) string {
	id := string(uidp.NewUIDP(uidp.UIDP(parent)))
	stored := proto.Clone(grp).(*iamv1.Group)
	stored.Id = id
	st.groups[id] = stored
	if parent == "" {
		st.orgs[id] = &org{entitlements: map[string]bool{}}
	}
	return id
}

// CreateOrg creates an organization (a root group) with the given
// entitlements (EntitlementCertificates, EntitlementRuntimeRepositories) and
// returns its id. Names need not be unique, as in the real service.
func (s *Server) CreateOrg(name string, entitlements ...string) string {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.addGroupLocked("", &iamv1.Group{Name: name})
	st.orgs[id].entitlements = setOf(entitlements)
	return id
}

// createOrgWithIDLocked creates an organization with a chosen root UIDP.
func (st *store) createOrgWithIDLocked(id, name string, entitlements []string) error {
	if !uidp.Valid(id) || !uidp.InRoot(id) {
		return fmt.Errorf("id %q is not a root UIDP (40 lowercase hex digits)", id)
	}
	if _, ok := st.groups[id]; ok {
		return fmt.Errorf("id %q is already used", id)
	}
	st.groups[id] = &iamv1.Group{Id: id, Name: name}
	st.orgs[id] = &org{entitlements: setOf(entitlements)}
	return nil
}

// SetEntitlements replaces an organization's entitlements. It returns an
// error when orgID is not an organization.
func (s *Server) SetEntitlements(orgID string, entitlements ...string) error {
	return s.store.withOrg("setting entitlements", orgID, func(o *org) error {
		o.entitlements = setOf(entitlements)
		return nil
	})
}
