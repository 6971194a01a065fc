package reconciler

import (
	"sort"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Status is a snapshot of what the reconciler knows, served as /status. It
// holds no secrets: only names, hashes, diffs and error messages (which are
// built without credentials).
type Status struct {
	Org       string      `json:"org"`
	OrgID     string      `json:"org_id,omitempty"`
	Mode      Mode        `json:"mode"`
	Ref       string      `json:"ref,omitempty"`
	Revision  string      `json:"revision,omitempty"`
	Verified  bool        `json:"verified"`
	Ready     bool        `json:"ready"`
	LastCycle *CycleInfo  `json:"last_cycle,omitempty"`
	LastFetch time.Time   `json:"last_successful_fetch,omitempty"`
	Files     FileCounts  `json:"files"`
	Ignored   []string    `json:"ignored_files,omitempty"`
	Repos     []RepoState `json:"repos"`
}

// FileCounts counts the files under the managed folder.
type FileCounts struct {
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	Ignored int `json:"ignored"`
}

// CycleInfo describes one finished cycle.
type CycleInfo struct {
	Trigger  vocab.Trigger     `json:"trigger"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Result   vocab.CycleResult `json:"result"`
	Revision string            `json:"revision,omitempty"`
	Error    string            `json:"error,omitempty"`
	Writes   int               `json:"writes"`
}

// RepoState is what the reconciler knows about one repo.
type RepoState struct {
	Repo        string       `json:"repo"`
	RepoID      string       `json:"repo_id,omitempty"`
	File        string       `json:"file,omitempty"`
	Status      vocab.Status `json:"status"`
	DesiredHash string       `json:"desired_hash,omitempty"`
	LiveHash    string       `json:"live_hash,omitempty"`
	Diff        []string     `json:"diff,omitempty"`
	Error       string       `json:"error,omitempty"`
	DriftSince  *time.Time   `json:"drift_since,omitempty"`
	LastWrite   *time.Time   `json:"last_write,omitempty"`
	WriteError  string       `json:"last_write_error,omitempty"`
	Writes      int          `json:"writes_of_this_revision,omitempty"`
	LastBuild   *BuildInfo   `json:"last_build,omitempty"`
}

// BuildInfo is the last build result seen for a repo.
type BuildInfo struct {
	ID       string            `json:"id"`
	Result   vocab.BuildResult `json:"result"`
	Finished time.Time         `json:"finished"`
	Seconds  float64           `json:"duration_seconds"`
}

func sortedStates(m map[string]*RepoState) []RepoState {
	out := make([]RepoState, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repo < out[j].Repo })
	return out
}

// RecordBuild stores the last build result of a repo for /status. The build
// watcher calls it; a repo the reconciler does not know is ignored.
func (r *Reconciler) RecordBuild(repo string, b BuildInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.states[repo]; ok {
		bb := b
		st.LastBuild = &bb
	}
}

// RepoIDs maps the id of every repo the reconciler knows (managed or orphan)
// to its name, so that builds Chainguard starts on its own can be attributed.
func (r *Reconciler) RepoIDs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.states))
	for name, st := range r.states {
		if st.RepoID != "" {
			out[st.RepoID] = name
		}
	}
	return out
}
