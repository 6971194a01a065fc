package commitstatus

import (
	"maps"
	"slices"
	"sync"
)

// CycleRepo is what one cycle did to one repo: the Tracker's input, filled
// in from the reconciler's report.
type CycleRepo struct {
	Name string
	ID   string
	// Problem is set when the file is invalid, the repo missing, or the
	// write failed or stalled.
	Problem Problem
	// Drifted is set when the repo needs a write; Written when the cycle
	// wrote it.
	Drifted bool
	Written bool
}

// Sender is where decided states go (a *Reporter).
type Sender interface {
	Report(revision string, s Status)
}

// Tracker follows the revision being reconciled across cycles and builds,
// and sends its state whenever a cycle or a build changes it: what each
// repo's latest cycle said, and the builds of the repos the revision wrote.
// A new revision starts over. It is safe for concurrent use (cycles and
// build results come from different goroutines).
type Tracker struct {
	send Sender
	// building reports whether builds of a repo are still followed.
	building func(repoID string) bool

	mu       sync.Mutex
	revision string
	repos    map[string]*tracked
}

type tracked struct {
	id      string
	problem Problem
	drifted bool
	written bool
	builds  []BuildResult
}

// NewTracker returns a Tracker sending to send; building tells whether a
// repo's builds are still followed (the build watcher's Busy).
func NewTracker(send Sender, building func(repoID string) bool) *Tracker {
	return &Tracker{send: send, building: building, repos: map[string]*tracked{}}
}

// Cycle records a finished cycle of revision: every repo it planned that
// was not in sync (repos in sync need no entry: one the revision wrote
// earlier keeps its writes and builds, any other is forgotten).
func (t *Tracker) Cycle(revision string, repos []CycleRepo) {
	if revision == "" {
		return
	}
	t.mu.Lock()
	if revision != t.revision {
		t.revision, t.repos = revision, map[string]*tracked{}
	}
	seen := map[string]bool{}
	for _, r := range repos {
		seen[r.Name] = true
		cur, ok := t.repos[r.Name]
		if !ok {
			cur = &tracked{}
			t.repos[r.Name] = cur
		}
		cur.id, cur.problem, cur.drifted = r.ID, r.Problem, r.Drifted
		if r.Written {
			// A new write starts new builds.
			cur.written, cur.builds = true, nil
		} else if r.Drifted && r.Problem == ProblemNone {
			cur.written = false
		}
	}
	for name, cur := range t.repos {
		if seen[name] {
			continue
		}
		if cur.written {
			cur.problem, cur.drifted = ProblemNone, true
			continue
		}
		delete(t.repos, name)
	}
	rev, status := t.revision, t.decideLocked()
	t.mu.Unlock()
	t.send.Report(rev, status)
}

// Build records a finished build of a repo. It counts for the revision
// when the revision wrote the repo; other builds (Chainguard's own
// rebuilds) are ignored.
func (t *Tracker) Build(repo string, result BuildResult) {
	t.mu.Lock()
	cur, ok := t.repos[repo]
	if !ok || !cur.written {
		t.mu.Unlock()
		return
	}
	cur.builds = append(cur.builds, result)
	rev, status := t.revision, t.decideLocked()
	t.mu.Unlock()
	t.send.Report(rev, status)
}

func (t *Tracker) decideLocked() Status {
	names := slices.Sorted(maps.Keys(t.repos))
	repos := make([]Repo, 0, len(names))
	for _, n := range names {
		cur := t.repos[n]
		r := Repo{Name: n, Problem: cur.problem, Drifted: cur.drifted, Written: cur.written, Builds: append([]BuildResult(nil), cur.builds...)}
		if cur.written && t.building != nil {
			r.Building = t.building(cur.id)
		}
		repos = append(repos, r)
	}
	return Decide(repos)
}
