package emulator

import (
	"slices"
	"sort"
	"sync"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/protobuf/proto"
)

// Entitlements an organization can hold.
const (
	EntitlementCertificates        = "certificates"
	EntitlementRuntimeRepositories = "runtime_repositories"
)

// store is the emulator's state. One mutex guards it all, including the
// builder's timers, so that an update and the builds it starts are atomic.
type store struct {
	mu      sync.Mutex
	groups  map[string]*iamv1.Group
	orgs    map[string]*org // by root group id
	repos   map[string]*registryv1.Repo
	reports map[string]*registryv1.BuildReport
}

// org is what the emulator knows of an organization beyond its group.
type org struct {
	entitlements map[string]bool
	// catalog is the set of packages the org may install; nil means no
	// catalog is configured and every package resolves.
	catalog map[string]bool
}

func newStore() *store {
	return &store{
		groups:  map[string]*iamv1.Group{},
		orgs:    map[string]*org{},
		repos:   map[string]*registryv1.Repo{},
		reports: map[string]*registryv1.BuildReport{},
	}
}

// orgOfLocked returns the organization a UIDP belongs to, or nil.
func (st *store) orgOfLocked(id string) *org {
	return st.orgs[uidp.Root(id)]
}

// repoByNameLocked finds a repo by exact name directly under parent.
func (st *store) repoByNameLocked(parent, name string) *registryv1.Repo {
	for id, r := range st.repos {
		if uidp.Parent(id) == parent && r.GetName() == name {
			return r
		}
	}
	return nil
}

// sortedReposLocked returns the repos matching keep, by name then id.
func (st *store) sortedReposLocked(keep func(*registryv1.Repo) bool) []*registryv1.Repo {
	var out []*registryv1.Repo
	for _, r := range st.repos {
		if keep(r) {
			out = append(out, proto.Clone(r).(*registryv1.Repo))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetName() != out[j].GetName() {
			return out[i].GetName() < out[j].GetName()
		}
		return out[i].GetId() < out[j].GetId()
	})
	return out
}

// matchUIDP reports whether id passes every field set in f, with the
// semantics of chainguard.platform.common.UIDPFilter: ancestors_of and
// descendants_of are exclusive of the given UIDP, children_of is one level
// down, in_root keeps root records, ids is a list of exact UIDPs. A nil or
// empty filter matches everything.
func matchUIDP(f *commonv1.UIDPFilter, id string) bool {
	if f == nil {
		return true
	}
	if f.GetAncestorsOf() != "" && !uidp.IsAncestor(id, f.GetAncestorsOf()) {
		return false
	}
	if f.GetDescendantsOf() != "" && !uidp.IsAncestor(f.GetDescendantsOf(), id) {
		return false
	}
	if f.GetChildrenOf() != "" && uidp.Parent(id) != f.GetChildrenOf() {
		return false
	}
	if f.GetInRoot() && !uidp.InRoot(id) {
		return false
	}
	if len(f.GetIds()) > 0 && !slices.Contains(f.GetIds(), id) {
		return false
	}
	return true
}

func setOf(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}
