// Package store holds what the daemon knows, in one place: the source being
// reconciled and the last cycle, the files under --path, and per repo its
// state, its id and its last build.
//
// Three parties share it, each through its own methods: the reconciler
// writes repo states (computed by its pure transition) and the cycle's
// header after every cycle; the build watcher reads the repo ids
// (RepoIDs) to attribute builds and records build results (RecordBuild);
// the status page and /status read a consistent snapshot (Status). A
// repo's LastBuild belongs to the build watcher: PutRepo keeps the stored
// one, so a build recorded while a cycle runs is never lost.
//
// Every value the store hands out is a copy; it holds no secrets, only
// names, hashes, diffs and error messages that are built without
// credentials.
package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Status is a snapshot of what the daemon knows, served as /status.
type Status struct {
	Org      string     `json:"org"`
	OrgID    string     `json:"org_id,omitempty"`
	Mode     vocab.Mode `json:"mode"`
	Ref      string     `json:"ref,omitempty"`
	Revision string     `json:"revision,omitempty"`
	Verified bool       `json:"verified"`
	// Ready is set once the first cycle finished.
	Ready     bool       `json:"ready"`
	LastCycle *CycleInfo `json:"last_cycle,omitempty"`
	// LastFetch is when Git was last read successfully (and the head
	// verified, when that is required).
	LastFetch time.Time `json:"last_successful_fetch,omitempty"`
	// LastLiveRead is when the Chainguard API last listed the repos
	// successfully.
	LastLiveRead time.Time     `json:"last_successful_api_read,omitempty"`
	Files        FileCounts    `json:"files"`
	Ignored      []IgnoredFile `json:"ignored_files,omitempty"`
	// Settings is the folder's settings file; nil when it has none.
	Settings *SettingsInfo `json:"settings,omitempty"`
	// Prune is what pruning decided in the last cycle; nil without
	// --prune.
	Prune *PruneInfo  `json:"prune,omitempty"`
	Repos []RepoState `json:"repos"`

	// PackageCheck is what the package check did last; nil when it is
	// off (--package-check=false).
	PackageCheck *PackageCheckInfo `json:"package_check,omitempty"`
}

// SettingsInfo describes the folder's settings file (.ca-reconciler.yaml).
type SettingsInfo struct {
	File string `json:"file"`
	// Valid is false when the file has errors: nothing is written,
	// created or pruned then.
	Valid bool `json:"valid"`
	// Repos counts the repos with settings; Suspended and Sources name the
	// suspended repos and those given a source, sorted.
	Repos     int      `json:"repos"`
	Suspended []string `json:"suspended,omitempty"`
	Sources   []string `json:"sources,omitempty"`
	// Errors and Warnings are the file's problems, file:line:col first.
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// PruneInfo is what pruning decided in a cycle.
type PruneInfo struct {
	Limit int `json:"limit"`
	// Candidates are the repos the cycle prunes (or would, when Held),
	// sorted.
	Candidates []string `json:"candidates,omitempty"`
	// Held is why none of them is pruned; Reason says it for people.
	Held   vocab.HoldReason `json:"held,omitempty"`
	Reason string           `json:"reason,omitempty"`
}

// PackageCheckInfo is what the package check did: the check of the repos
// about to be written against the organization's package index.
type PackageCheckInfo struct {
	// Status is the last check's (checked, skipped, unavailable); empty
	// while no repo needed one.
	Status vocab.PackageCheckStatus `json:"status,omitempty"`
	// Reason says why it was skipped or unavailable, or that a stale
	// index was used.
	Reason string `json:"reason,omitempty"`
	// Capability names what the identity lacks when skipped (apk.list).
	Capability string `json:"missing_capability,omitempty"`
	// LastCheck is when repos were last checked, and Checked how many.
	LastCheck time.Time `json:"last_check,omitempty"`
	Checked   int       `json:"repos_checked"`
	// IndexReadAt is when the index the last check used was read.
	IndexReadAt time.Time `json:"index_read_at,omitempty"`
	// Refused are the repos whose file the check refuses now, sorted;
	// each one's problems are its error.
	Refused []string `json:"refused,omitempty"`
}

func (p *PackageCheckInfo) clone() *PackageCheckInfo {
	if p == nil {
		return nil
	}
	c := *p
	c.Refused = slices.Clone(p.Refused)
	return &c
}

// FileCounts counts the entries under the managed folder by state.
type FileCounts struct {
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	Ignored int `json:"ignored"`
	// Warnings counts the warnings in the files (valid or not); files
	// with warnings are applied.
	Warnings int `json:"warnings"`
}

// IgnoredFile is an entry under the managed folder that manages no repo.
type IgnoredFile struct {
	Path   string             `json:"path"`
	Reason vocab.IgnoreReason `json:"reason"`
}

// CycleInfo describes one finished cycle.
type CycleInfo struct {
	Trigger  vocab.Trigger     `json:"trigger"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Result   vocab.CycleResult `json:"result"`
	Revision string            `json:"revision,omitempty"`
	// Error is why the cycle could not read Git or the API.
	Error string `json:"error,omitempty"`
	// FailedDependency names what Error is about.
	FailedDependency vocab.Dependency `json:"failed_dependency,omitempty"`
	Writes           int              `json:"writes"`
}

// RepoState is what the daemon knows about one repo.
type RepoState struct {
	Repo        string       `json:"repo"`
	RepoID      string       `json:"repo_id,omitempty"`
	File        string       `json:"file,omitempty"`
	Status      vocab.Status `json:"status"`
	DesiredHash string       `json:"desired_hash,omitempty"`
	LiveHash    string       `json:"live_hash,omitempty"`
	Diff        []string     `json:"diff,omitempty"`
	// Error is why the file cannot be applied (invalid, missing).
	Error      string     `json:"error,omitempty"`
	DriftSince *time.Time `json:"drift_since,omitempty"`
	LastWrite  *time.Time `json:"last_write,omitempty"`
	WriteError string     `json:"last_write_error,omitempty"`
	// Writes counts the writes of the desired overlay WritesOf that did
	// not (yet) converge; it stalls the repo at --max-writes.
	Writes   int    `json:"writes_of_this_revision,omitempty"`
	WritesOf string `json:"-"`
	// LastBuild is the last finished build, set by the build watcher.
	LastBuild *BuildInfo `json:"last_build,omitempty"`
	// Held is why a repo that differs from Git is not written: suspended,
	// or a guard refusing it (Error says why).
	Held vocab.HoldReason `json:"held,omitempty"`
	// Would is the write a repo waits for: create or prune when it was not
	// done this cycle (detect mode, a guard), or what a suspended repo
	// would get.
	Would vocab.Action `json:"would,omitempty"`

	// Warnings are the file's warnings ("file:line:col: warning: field:
	// message"); the file is applied all the same.
	Warnings []string `json:"warnings,omitempty"`
	// UnknownFields is the number of fields of the live overlay that this
	// version does not know; writes keep them (UnknownFieldsNote).
	UnknownFields int `json:"unknown_fields,omitempty"`
	// CheckRefused is set when the package check refused the file (the
	// repo is invalid, and Error holds the check's problems); CheckNotes
	// are what the check could not decide (no base image known).
	CheckRefused bool     `json:"refused_by_package_check,omitempty"`
	CheckNotes   []string `json:"package_check_notes,omitempty"`
}

// BuildInfo is the last build result seen for a repo.
type BuildInfo struct {
	ID       string            `json:"id"`
	Result   vocab.BuildResult `json:"result"`
	Finished time.Time         `json:"finished"`
	Seconds  float64           `json:"duration_seconds"`
}

// Store is safe for concurrent use. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	head  Status               // Repos is always nil here
	repos map[string]RepoState // by name
	byID  map[string]string    // repo id -> name
}

// New returns an empty store; Verified starts true (nothing was refused).
func New() *Store {
	return &Store{
		head:  Status{Verified: true},
		repos: map[string]RepoState{},
		byID:  map[string]string{},
	}
}

// Status returns a snapshot: the header and every repo, sorted by name.
func (s *Store) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := s.head
	out.Ignored = slices.Clone(s.head.Ignored)
	out.PackageCheck = s.head.PackageCheck.clone()
	if s.head.Settings != nil {
		c := *s.head.Settings
		c.Suspended, c.Sources = slices.Clone(c.Suspended), slices.Clone(c.Sources)
		c.Errors, c.Warnings = slices.Clone(c.Errors), slices.Clone(c.Warnings)
		out.Settings = &c
	}
	if s.head.Prune != nil {
		c := *s.head.Prune
		c.Candidates = slices.Clone(c.Candidates)
		out.Prune = &c
	}
	if s.head.LastCycle != nil {
		c := *s.head.LastCycle
		out.LastCycle = &c
	}
	out.Repos = make([]RepoState, 0, len(s.repos))
	for _, st := range s.repos {
		out.Repos = append(out.Repos, st.Clone())
	}
	slices.SortFunc(out.Repos, func(a, b RepoState) int { return strings.Compare(a.Repo, b.Repo) })
	return out
}

// Update changes the header under the store's lock. f sees Repos as nil
// and must not keep h.
func (s *Store) Update(f func(h *Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.head)
	s.head.Repos = nil
}

// Repo returns a repo's state.
func (s *Store) Repo(name string) (RepoState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.repos[name]
	return st.Clone(), ok
}

// Step replaces a repo's state by step(prev) under the store's lock, prev
// being the stored state (the zero state, ok false, for a repo the store
// does not know), and stores the result, under name, only when it differs
// from prev.
// prev is the stored value itself, not a copy, so that a cycle in which
// nothing changes copies nothing: step must not change its slices or what
// its pointers point at (the store never does: it replaces states whole),
// and must not call the store.
func (s *Store) Step(name string, step func(prev RepoState, ok bool) RepoState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.repos[name]
	st := step(prev, ok)
	st.Repo = name
	if ok && st.Equal(prev) {
		return
	}
	s.put(st, prev, ok)
}

// Len is the number of repos the store knows.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.repos)
}

// PutRepo stores a repo's state, keeping the LastBuild already stored.
func (s *Store) PutRepo(st RepoState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.repos[st.Repo]
	s.put(st, old, ok)
}

// put stores a copy of st over old (ok when the store had it), keeping
// old's LastBuild and the id index; the caller holds the lock.
func (s *Store) put(st, old RepoState, ok bool) {
	st = st.Clone()
	if ok {
		st.LastBuild = old.LastBuild
		if old.RepoID != st.RepoID {
			delete(s.byID, old.RepoID)
		}
	} else {
		st.LastBuild = nil
	}
	if st.RepoID != "" {
		s.byID[st.RepoID] = st.Repo
	}
	s.repos[st.Repo] = st
}

// Retain forgets every repo for which keep is false, build included, and
// returns the states it forgot, sorted by name.
func (s *Store) Retain(keep func(name string) bool) []RepoState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []RepoState
	for name, st := range s.repos {
		if keep(name) {
			continue
		}
		gone = append(gone, st)
		delete(s.repos, name)
		if s.byID[st.RepoID] == name {
			delete(s.byID, st.RepoID)
		}
	}
	slices.SortFunc(gone, func(a, b RepoState) int { return strings.Compare(a.Repo, b.Repo) })
	return gone
}

// Each calls f with every repo's state, in no particular order, under the
// read lock: f must not call the store.
func (s *Store) Each(f func(RepoState)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, st := range s.repos {
		f(st)
	}
}

// RepoIDs maps the id of every repo the store knows (managed or orphan) to
// its name, so that builds Chainguard starts on its own can be attributed.
func (s *Store) RepoIDs() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.byID))
	for id, name := range s.byID {
		out[id] = name
	}
	return out
}

// RepoName returns the name of the repo with this id, if the store knows it.
func (s *Store) RepoName(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name, ok := s.byID[id]
	return name, ok
}

// RecordBuild stores the last build of a repo and reports whether the
// store knows the repo; a repo it does not know is ignored.
func (s *Store) RecordBuild(repo string, b BuildInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.repos[repo]
	if !ok {
		return false
	}
	st.LastBuild = &b
	s.repos[repo] = st
	return true
}

// Clone copies a state with its slices and what its pointers point at, so
// that the copy shares no memory with st (the store hands out only such
// copies).
func (st RepoState) Clone() RepoState {
	st.Diff = slices.Clone(st.Diff)
	st.Warnings = slices.Clone(st.Warnings)
	st.CheckNotes = slices.Clone(st.CheckNotes)
	st.DriftSince = clonePtr(st.DriftSince)
	st.LastWrite = clonePtr(st.LastWrite)
	st.LastBuild = clonePtr(st.LastBuild)
	return st
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Equal reports whether two states hold the same values (LastBuild
// included).
func (st RepoState) Equal(o RepoState) bool {
	return st.Repo == o.Repo && st.RepoID == o.RepoID && st.File == o.File && st.Status == o.Status &&
		st.DesiredHash == o.DesiredHash && st.LiveHash == o.LiveHash && slices.Equal(st.Diff, o.Diff) &&
		st.Error == o.Error && timeEqual(st.DriftSince, o.DriftSince) && timeEqual(st.LastWrite, o.LastWrite) &&
		st.WriteError == o.WriteError && st.Writes == o.Writes && st.WritesOf == o.WritesOf &&
		slices.Equal(st.Warnings, o.Warnings) && st.UnknownFields == o.UnknownFields &&
		st.CheckRefused == o.CheckRefused && slices.Equal(st.CheckNotes, o.CheckNotes) &&
		st.Held == o.Held && st.Would == o.Would &&
		((st.LastBuild == nil && o.LastBuild == nil) || (st.LastBuild != nil && o.LastBuild != nil && buildEqual(*st.LastBuild, *o.LastBuild)))
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func buildEqual(a, b BuildInfo) bool {
	return a.ID == b.ID && a.Result == b.Result && a.Finished.Equal(b.Finished) && a.Seconds == b.Seconds
}

// UnknownFieldsNote says that a live overlay holds n fields this version
// does not know and that they are kept, or "" when n is 0: the sentence
// plan, /status, the page and the write log use.
func UnknownFieldsNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("the live overlay holds %d field(s) this version does not know; they are kept", n)
}
