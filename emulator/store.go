package emulator

import (
	"slices"
	"sort"
	"sync"
	"time"

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
	repos   map[string]*repoRecord
	reports map[string]*registryv1.BuildReport
}

// repoRecord is one stored repository.
type repoRecord struct {
	// repo is the v1 message as last written, unknown fields included: the
	// record of truth that both API versions read and write.
	repo *registryv1.Repo
	// v2unknown holds the unknown fields v2 writes sent, by v2 message path
	// ("" for the repo, "custom_overlay", ...): an unknown field's number
	// means nothing in the other version, so each version keeps its own.
	v2unknown map[string][]byte
	// updated is when the repo was last written (v2 update_time).
	updated time.Time
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
		repos:   map[string]*repoRecord{},
		reports: map[string]*registryv1.BuildReport{},
	}
}

// orgOfLocked returns the organization a UIDP belongs to, or nil.
func (st *store) orgOfLocked(id string) *org {
	return st.orgs[uidp.Root(id)]
}

// repoByNameLocked finds a repo by exact name directly under parent.
func (st *store) repoByNameLocked(parent, name string) *repoRecord {
	for id, rec := range st.repos {
		if uidp.Parent(id) == parent && rec.repo.GetName() == name {
			return rec
		}
	}
	return nil
}

// sortedReposLocked returns copies of the repos matching keep, by name then
// id.
func (st *store) sortedReposLocked(keep func(*registryv1.Repo) bool) []*registryv1.Repo {
	var out []*registryv1.Repo
	for _, rec := range st.repos {
		if keep(rec.repo) {
			out = append(out, proto.Clone(rec.repo).(*registryv1.Repo))
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
