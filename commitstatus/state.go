package commitstatus

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// State is what a revision's commit status says.
type State string

// States, as ca-reconciler reports them. Each provider spells them its own
// way (GitLab: running, success, failed).
const (
	// StatePending: the revision's writes are not all done, or builds they
	// started are still running.
	StatePending State = "pending"
	// StateSuccess: every repo the revision changed was written and every
	// build those writes started succeeded (or nothing needed writing).
	StateSuccess State = "success"
	// StateFailure: a file (an overlay or the settings file) is invalid or
	// names a missing repo, a write failed or stalled, a create or prune
	// was refused, or a build failed or timed out.
	StateFailure State = "failure"
)

// Problem is why one repo makes its revision fail.
type Problem string

// Problems a repo can have, in the words the description uses.
const (
	ProblemNone        Problem = ""
	ProblemInvalid     Problem = "invalid file"
	ProblemMissing     Problem = "missing repo"
	ProblemWriteFailed Problem = "write failed"
	ProblemStalled     Problem = "stalled"
	// ProblemCreateRefused: the service refused to create the repo (its
	// source, or for good), not only for now.
	ProblemCreateRefused Problem = "create refused"
	// ProblemPruneRefused: a guard refused the prune (more than
	// --prune-limit, or no valid file), or the service refused it for
	// good.
	ProblemPruneRefused Problem = "prune refused"
	// ProblemHeld: the write is held back because the settings file is
	// invalid. The file is its own entry (ProblemInvalid), the cause: held
	// repos are named after every other failing entry.
	ProblemHeld Problem = "held back"
)

// BuildResult is how one build ended, or that it has not.
type BuildResult string

// Build results.
const (
	BuildPending BuildResult = "pending"
	BuildSuccess BuildResult = "success"
	BuildFailure BuildResult = "failure"
	BuildTimeout BuildResult = "timeout"
)

// Repo is what one revision did to one repo: the input of Decide. A repo in
// sync that the revision did not write needs no entry.
type Repo struct {
	// Name is the repo's, or for the invalid settings file (which is about
	// no one repo), the file's path.
	Name string
	// Problem is set when the repo's file or write failed.
	Problem Problem
	// Drifted is set when the revision needs a write of this repo; Written
	// once that write succeeded.
	Drifted bool
	Written bool
	// Builds are the results of the builds the write started, as far as
	// known.
	Builds []BuildResult
	// Building is set while builds the write started are still followed
	// (running, or not seen yet).
	Building bool
}

// Status is a decided state with its description.
type Status struct {
	State       State
	Description string
}

// MaxDescription is the longest description sent: GitHub refuses a commit
// status description over 140 characters.
const MaxDescription = 140

// Decide says which state a revision is in, from what it did to each repo.
// It is pure. Failure wins over pending, pending over success: a failed
// build fails the revision at once, even while other builds run. The
// description names the failing repos (sorted, with why; repos held back
// last, after the cause), or counts what is pending, or what succeeded; it
// is at most MaxDescription characters.
func Decide(repos []Repo) Status {
	var failing, held []string
	waitingWrite, waitingBuild, written, builds := 0, 0, 0, 0
	sorted := append([]Repo(nil), repos...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, r := range sorted {
		why := string(r.Problem)
		var failedBuilds, timedOut, pending int
		for _, b := range r.Builds {
			switch b {
			case BuildFailure:
				failedBuilds++
			case BuildTimeout:
				timedOut++
			case BuildPending:
				pending++
			}
		}
		if why == "" {
			switch {
			case failedBuilds > 0:
				why = "build failed"
			case timedOut > 0:
				why = "build timed out"
			}
		}
		if r.Problem == ProblemHeld {
			held = append(held, r.Name+" ("+why+")")
			continue
		}
		if why != "" {
			failing = append(failing, r.Name+" ("+why+")")
			continue
		}
		switch {
		case r.Drifted && !r.Written:
			waitingWrite++
		case r.Written && (r.Building || pending > 0):
			waitingBuild++
		case r.Written:
			written++
			builds += len(r.Builds)
		}
	}
	failing = append(failing, held...)
	switch {
	case len(failing) > 0:
		return Status{StateFailure, listDescription("failed: ", failing)}
	case waitingWrite > 0 || waitingBuild > 0:
		var parts []string
		if waitingWrite > 0 {
			parts = append(parts, fmt.Sprintf("%d %s to write", waitingWrite, plural(waitingWrite, "repo", "repos")))
		}
		if waitingBuild > 0 {
			parts = append(parts, fmt.Sprintf("%d %s building", waitingBuild, plural(waitingBuild, "repo", "repos")))
		}
		return Status{StatePending, strings.Join(parts, ", ")}
	case written > 0:
		return Status{StateSuccess, fmt.Sprintf("%d %s written, %d %s succeeded", written, plural(written, "repo", "repos"), builds, plural(builds, "build", "builds"))}
	}
	return Status{StateSuccess, "in sync: nothing to write"}
}

// listDescription joins items after prefix, as many as fit in
// MaxDescription with room for ", and N more".
func listDescription(prefix string, items []string) string {
	out := prefix
	for i, it := range items {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		rest := len(items) - i - 1
		more := ""
		if rest > 0 {
			more = fmt.Sprintf(", and %d more", rest)
		}
		if utf8.RuneCountInString(out+sep+it+more) > MaxDescription {
			if i == 0 {
				// Even the first does not fit: cut it.
				return truncate(out+it, MaxDescription-utf8.RuneCountInString(more)) + more
			}
			return out + fmt.Sprintf(", and %d more", len(items)-i)
		}
		out += sep + it
	}
	return out
}

// truncate cuts s to n runes, ending in "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
