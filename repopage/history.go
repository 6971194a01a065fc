// Package repopage serves one page per repo at /repos/NAME: the desired
// overlay (the file) and the live one as YAML, the diff, the error or
// problems, why a write is held back (suspended, or refused by a guard),
// the last writes (updates, resets, creates and prunes, and the ones a
// guard refused) and builds with their results and durations, a failed
// build's log tail, the revision and file that set the desired overlay, and
// the source a create makes the repo from. It is linked from the overview
// page at /.
//
// History keeps what the store does not: overlays, the last writes and the
// last builds of each repo, fed from the reconciler's reports and events
// and the build watcher's results. The page is rendered on the server with
// html/template (every value escaped) and has no JavaScript; its
// Content-Security-Policy forbids scripts.
package repopage

import (
	"slices"
	"sync"
	"time"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// MaxEntries is how many writes and builds are kept per repo.
const MaxEntries = 10

// Write is one write of a repo's overlay (an update, a reset, a create or
// a prune), or one a guard refused.
type Write struct {
	At time.Time
	// Action is what the write did (update, reset, create, prune);
	// Source what a create made the repo from.
	Action    string
	Source    string
	Attempts  int
	Converged bool
	// Error is set when the write failed, or why a guard refused it.
	Error string
	// Held is the guard that refused the write (prune_limit, no_files,
	// settings_invalid); the write was not made.
	Held vocab.HoldReason
	Diff []string
}

// Build is one finished build.
type Build struct {
	ID       string
	Result   string
	Started  time.Time
	Finished time.Time
	LogTail  []string
}

// Duration is how long the build ran.
func (b Build) Duration() time.Duration { return b.Finished.Sub(b.Started) }

// Detail is what History knows about one repo.
type Detail struct {
	Repo string
	// HasDesired and HasLive say which overlays are known (a missing repo
	// has no live one, an invalid file no desired one).
	HasDesired, HasLive bool
	Desired, Live       overlay.Overlay
	DesiredHash         string
	// File is the file that sets the desired overlay; SetBy the first
	// revision seen with this desired overlay.
	File  string
	SetBy string
	// Source is what the settings file creates the repo from, when it
	// names one.
	Source string
	// Writes and Builds are newest first.
	Writes []Write
	Builds []Build
}

// History is safe for concurrent use.
type History struct {
	mu    sync.Mutex
	repos map[string]*Detail
}

// NewHistory returns an empty History.
func NewHistory() *History { return &History{repos: map[string]*Detail{}} }

func (h *History) repoLocked(name string) *Detail {
	d, ok := h.repos[name]
	if !ok {
		d = &Detail{Repo: name}
		h.repos[name] = d
	}
	return d
}

// Seen is a cycle's view of one repo.
type Seen struct {
	File        string
	Revision    string
	DesiredHash string
	// Desired and Live are nil when absent (an invalid file has no
	// desired overlay, a missing repo no live one).
	Desired, Live *overlay.Overlay
	// Source is what the settings file creates the repo from ("" for
	// none).
	Source string
}

// Overlays records a cycle's view of a repo. The overlays are kept as
// values (the page renders them as YAML when asked), so a cycle costs a
// map lookup per repo. s.Revision is remembered as SetBy when
// s.DesiredHash differs from the last one.
func (h *History) Overlays(repo string, s Seen) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.repoLocked(repo)
	if s.DesiredHash != d.DesiredHash {
		d.DesiredHash, d.SetBy = s.DesiredHash, s.Revision
	}
	d.File, d.Source = s.File, s.Source
	d.HasDesired, d.HasLive = s.Desired != nil, s.Live != nil
	d.Desired, d.Live = overlay.Overlay{}, overlay.Overlay{}
	if s.Desired != nil {
		d.Desired = *s.Desired
	}
	if s.Live != nil {
		d.Live = *s.Live
	}
}

// AddWrite records a write, newest first, keeping MaxEntries.
func (h *History) AddWrite(repo string, w Write) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.repoLocked(repo)
	d.Writes = prepend(d.Writes, w)
}

// AddBuild records a finished build, newest first, keeping MaxEntries.
func (h *History) AddBuild(repo string, b Build) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.repoLocked(repo)
	d.Builds = prepend(d.Builds, b)
}

// Forget drops a repo (no longer managed).
func (h *History) Forget(repo string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.repos, repo)
}

// Detail returns a copy of what is known about a repo.
func (h *History) Detail(repo string) (Detail, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.repos[repo]
	if !ok {
		return Detail{Repo: repo}, false
	}
	out := *d
	out.Writes = slices.Clone(d.Writes)
	out.Builds = slices.Clone(d.Builds)
	return out, true
}

func prepend[T any](list []T, v T) []T {
	out := append([]T{v}, list...)
	if len(out) > MaxEntries {
		out = out[:MaxEntries]
	}
	return out
}
