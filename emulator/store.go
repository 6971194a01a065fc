package emulator

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
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
// Repos and reports are indexed so that no lookup of one repo scans every
// repo or every report.
type store struct {
	mu     sync.Mutex
	groups map[string]*iamv1.Group
	orgs   map[string]*org // by root group id
	repos  map[string]*repoRecord
	// byName indexes repos by parent group, then name.
	byName map[string]map[string]*repoRecord

	reports map[string]*registryv1.BuildReport
	// repoReports indexes reports by repo id.
	repoReports map[string]map[string]bool
	// reportOrder holds report ids in the order they started, for the
	// retention sweep (dropped ids are skipped).
	reportOrder []string
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
	// basePackages and archs are what the repo's source image holds: the
	// packages every build installs besides the overlay's, and the
	// architectures it builds for (nil: x86_64 and aarch64).
	basePackages, archs []string
}

// org is what the emulator knows of an organization beyond its group.
type org struct {
	entitlements map[string]bool
	// catalog is the packages the org may install, which ListAPKs lists;
	// nil means no catalog is configured: every package resolves and
	// ListAPKs answers PermissionDenied.
	catalog *catalog
	// sourceImages are the Chainguard catalog images the org is entitled
	// to, by name: the sources CreateRepo takes besides the org's repos.
	sourceImages map[string]bool
}

func newStore() *store {
	return &store{
		groups:      map[string]*iamv1.Group{},
		orgs:        map[string]*org{},
		repos:       map[string]*repoRecord{},
		byName:      map[string]map[string]*repoRecord{},
		reports:     map[string]*registryv1.BuildReport{},
		repoReports: map[string]map[string]bool{},
	}
}

// withOrg runs fn on organization orgID under the store's lock; op names
// the operation in the error when orgID is not an organization.
func (st *store) withOrg(op, orgID string, fn func(*org) error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	o, ok := st.orgs[orgID]
	if !ok {
		return fmt.Errorf("%s: organization %q not found", op, orgID)
	}
	return fn(o)
}

// orgOfLocked returns the organization a UIDP belongs to, or nil.
func (st *store) orgOfLocked(id string) *org {
	return st.orgs[uidp.Root(id)]
}

// repoByNameLocked finds a repo by exact name directly under parent.
func (st *store) repoByNameLocked(parent, name string) *repoRecord {
	return st.byName[parent][name]
}

// addRepoLocked stores a new record, whose repo has its id and name.
func (st *store) addRepoLocked(rec *repoRecord) {
	id := rec.repo.GetId()
	st.repos[id] = rec
	st.nameLocked(uidp.Parent(id), rec.repo.GetName(), rec)
}

// renameLocked moves a record in the name index after its repo changed
// name from old.
func (st *store) renameLocked(rec *repoRecord, old string) {
	parent := uidp.Parent(rec.repo.GetId())
	if old == rec.repo.GetName() {
		return
	}
	if st.byName[parent][old] == rec {
		delete(st.byName[parent], old)
	}
	st.nameLocked(parent, rec.repo.GetName(), rec)
}

func (st *store) nameLocked(parent, name string, rec *repoRecord) {
	names, ok := st.byName[parent]
	if !ok {
		names = map[string]*repoRecord{}
		st.byName[parent] = names
	}
	names[name] = rec
}

// deleteRepoLocked drops a record from the store and its indexes.
func (st *store) deleteRepoLocked(id string) {
	rec, ok := st.repos[id]
	if !ok {
		return
	}
	delete(st.repos, id)
	parent := uidp.Parent(id)
	if st.byName[parent][rec.repo.GetName()] == rec {
		delete(st.byName[parent], rec.repo.GetName())
	}
}

// reposLocked returns the records a filter of one repo id, one name or a
// subtree can match, without scanning the rest when the filter says which.
func (st *store) reposLocked(id, name string, f *commonv1.UIDPFilter) []*repoRecord {
	switch {
	case id != "":
		if rec, ok := st.repos[id]; ok {
			return []*repoRecord{rec}
		}
		return nil
	case name != "" && f.GetChildrenOf() != "":
		if rec := st.byName[f.GetChildrenOf()][name]; rec != nil {
			return []*repoRecord{rec}
		}
		return nil
	case f.GetChildrenOf() != "":
		out := make([]*repoRecord, 0, len(st.byName[f.GetChildrenOf()]))
		for _, rec := range st.byName[f.GetChildrenOf()] {
			out = append(out, rec)
		}
		return out
	}
	out := make([]*repoRecord, 0, len(st.repos))
	for _, rec := range st.repos {
		out = append(out, rec)
	}
	return out
}

// identified is what the emulator's listed records share: a proto
// message with an id.
type identified interface {
	proto.Message
	GetId() string
}

// sortedClones returns copies of the records in seq that keep accepts, in
// the order order gives (byID or byNameThenID, as the service lists them).
func sortedClones[T identified](seq iter.Seq[T], keep func(T) bool, order func(a, b T) int) []T {
	var out []T
	for rec := range seq {
		if keep(rec) {
			out = append(out, proto.Clone(rec).(T))
		}
	}
	slices.SortFunc(out, order)
	return out
}

// lockedClones is sortedClones of the records of a map that mu guards,
// taken under mu.
func lockedClones[T identified](mu *sync.Mutex, records map[string]T, keep func(T) bool, order func(a, b T) int) []T {
	mu.Lock()
	defer mu.Unlock()
	return sortedClones(maps.Values(records), keep, order)
}

// byID orders records by id.
func byID[T identified](a, b T) int { return strings.Compare(a.GetId(), b.GetId()) }

// named is a listed record with a name: a repo or a group.
type named interface {
	identified
	GetName() string
}

// byNameThenID orders records by name, then id: how repos and groups are
// listed.
func byNameThenID[T named](a, b T) int {
	return cmp.Or(strings.Compare(a.GetName(), b.GetName()), byID(a, b))
}

// idFilter is what every list filter has: an exact id and a
// common.UIDPFilter.
type idFilter interface {
	GetId() string
	GetUidp() *commonv1.UIDPFilter
}

// matching keeps the records that pass f: its id exactly, its uidp as
// matchUIDP reads it; a field not set matches every record.
func matching[T identified](f idFilter) func(T) bool {
	return func(rec T) bool {
		return (f.GetId() == "" || rec.GetId() == f.GetId()) && matchUIDP(f.GetUidp(), rec.GetId())
	}
}

// matchingNamed is matching for a filter with a name too, which a record's
// name must then equal: the repo and group filters.
func matchingNamed[T named](f interface {
	idFilter
	GetName() string
}) func(T) bool {
	idAndUIDP := matching[T](f)
	return func(rec T) bool {
		return idAndUIDP(rec) && (f.GetName() == "" || rec.GetName() == f.GetName())
	}
}

// repos yields the repos of recs.
func repos(recs []*repoRecord) iter.Seq[*registryv1.Repo] {
	return func(yield func(*registryv1.Repo) bool) {
		for _, rec := range recs {
			if !yield(rec.repo) {
				return
			}
		}
	}
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

// addReportLocked stores a new build report of a repo.
func (st *store) addReportLocked(repoID, id string, r *registryv1.BuildReport) {
	st.reports[id] = r
	ids, ok := st.repoReports[repoID]
	if !ok {
		ids = map[string]bool{}
		st.repoReports[repoID] = ids
	}
	ids[id] = true
	st.reportOrder = append(st.reportOrder, id)
}

// dropReportLocked forgets a report (its id stays in reportOrder until the
// sweep reaches it).
func (st *store) dropReportLocked(id string) {
	delete(st.reports, id)
	repo := uidp.Parent(id)
	delete(st.repoReports[repo], id)
	if len(st.repoReports[repo]) == 0 {
		delete(st.repoReports, repo)
	}
}

// reportsLocked returns the reports a descendants_of scope can hold: those
// of one repo when scope is a repo, every report otherwise.
func (st *store) reportsLocked(scope string) map[string]*registryv1.BuildReport {
	ids, ok := st.repoReports[scope]
	if !ok {
		if _, isRepo := st.repos[scope]; isRepo {
			return nil
		}
		return st.reports
	}
	out := make(map[string]*registryv1.BuildReport, len(ids))
	for id := range ids {
		out[id] = st.reports[id]
	}
	return out
}
