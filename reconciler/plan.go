package reconciler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Change is the plan for one repo.
type Change struct {
	Repo   string
	RepoID string
	File   string
	Action vocab.Action
	// Desired and Live are the two sides compared (zero when absent).
	Desired overlay.Overlay
	Live    overlay.Overlay
	// DesiredHash is the file's hash (see DesiredRepo.Hash); LiveHash is
	// overlay.Hash of the live overlay, set when the repo exists. Both are
	// hashes of canonical forms, so equal hashes mean equal overlays.
	DesiredHash string
	LiveHash    string
	// Diff is what a write changes, from Live to Desired.
	Diff []overlay.Change
	// Err is why the repo cannot be reconciled (invalid, missing).
	Err error
	// Stalled is set on an update or reset that did not converge after
	// the maximum number of writes; it is not written again.
	Stalled bool
	// SourceRefused is set on a create the plan does not try because the
	// service refused its source for this file recently: Action is
	// invalid, and Err places the refusal at the source's line.
	SourceRefused bool

	// Source is what a create makes the repo from (the settings file's
	// source); SourceAt places that setting, for errors about it (a
	// pointer: most changes have none).
	Source   string
	SourceAt *overlay.Problem
	// Would is, for a suspended repo, the action it would get if it were
	// not suspended (noop, update, reset, create or prune).
	Would vocab.Action
	// Held is why a change that differs from Git is not written this
	// cycle: a suspended repo, or a guard (vocab.HoldReason.Guard) that
	// refuses it, whose message is then in Err.
	Held vocab.HoldReason

	// Warnings are the file's warnings: the file is applied all the same.
	Warnings overlay.Problems
	// UnknownFields is the number of fields of the live overlay that this
	// version does not know (chainguard.Repo.UnknownFields). They are
	// never drift, and a write keeps them.
	UnknownFields int
	// CheckRefused is set when the package check refused the file: Action
	// is invalid and Err holds the check's problems (see Refuse).
	CheckRefused bool
	// CheckNotes are what the package check could not decide for this
	// repo (no base image known); they refuse nothing.
	CheckNotes []string
}

// Drifted reports whether the change would write.
func (c Change) Drifted() bool { return c.Action.Writes() }

// Plan is the result of comparing desired and live state: one Change per
// repo, sorted by repo name.
type Plan struct {
	Revision string
	Changes  []Change

	// SettingsFile, SettingsErr and SettingsWarnings are the folder's
	// settings file, as in Desired.
	SettingsFile     string
	SettingsErr      error
	SettingsWarnings overlay.Problems
	// Prune is what pruning decided.
	Prune PruneReport

	// PackageCheck is what the package check did for the plan; nil when
	// there is no check (WithPackageCheck).
	PackageCheck *PackageCheckReport
}

// HasChanges reports whether any repo would be written.
func (p Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Drifted() {
			return true
		}
	}
	return false
}

// HasErrors reports whether any file is invalid or names a missing repo,
// the settings file is invalid, or a guard refuses a write.
func (p Plan) HasErrors() bool {
	if p.SettingsErr != nil {
		return true
	}
	for _, c := range p.Changes {
		if c.Action.Error() || c.Held.Guard() {
			return true
		}
	}
	return false
}

// Compute compares desired and live state. It is pure: no I/O, no clock.
// stalled maps a repo to the desired hash it stalled on; a drifted repo whose
// current desired hash matches is marked Stalled.
//
// Each live overlay is canonicalized and hashed once; comparisons are by
// hash (the desired hashes come with the parsed revision).
//
// Compute applies the settings file (create, suspend) but never prunes; see
// ComputeWith.
func Compute(desired Desired, live []chainguard.Repo, stalled map[string]string) Plan {
	return ComputeWith(desired, live, stalled, Policy{})
}

// ComputeWith is Compute under a Policy: with pol.Prune, the repos whose
// file is gone and that a file once named are pruned, within the guards.
func ComputeWith(desired Desired, live []chainguard.Repo, stalled map[string]string, pol Policy) Plan {
	hashes := make([]string, len(live))
	for i, r := range live {
		hashes[i] = overlay.Hash(r.Overlay)
	}
	return lifecycle(compute(desired, live, hashes, stalled), desired, pol, stalled, nil)
}

// compute is Compute with the live overlays' hashes given (liveHash[i] is
// overlay.Hash(live[i].Overlay)), so that a cycle hashes only the overlays
// that changed. It walks the desired names and the live repos in name order
// side by side, so the plan comes out sorted without sorting it.
func compute(desired Desired, live []chainguard.Repo, liveHash []string, stalled map[string]string) Plan {
	names := desired.sortedNames()
	order := liveOrder(live)
	plan := Plan{Revision: desired.Revision, Changes: make([]Change, 0, max(len(names), len(live)))}
	matched := ""
	i, j := 0, 0
	for i < len(names) || j < len(order) {
		var lr *chainguard.Repo
		lh := ""
		if j < len(order) {
			lr, lh = &live[order[j]], liveHash[order[j]]
		}
		switch {
		case lr != nil && lr.Name == matched && matched != "":
			// a second live repo of a name already planned
			j++
		case lr == nil || (i < len(names) && names[i] < lr.Name):
			plan.Changes = append(plan.Changes, desiredChange(names[i], desired.Repos[names[i]], nil, "", stalled))
			i++
		case i == len(names) || lr.Name < names[i]:
			if !lr.Overlay.IsZero() {
				plan.Changes = append(plan.Changes, Change{Repo: lr.Name, RepoID: lr.ID, Action: vocab.ActionOrphan, Live: lr.Overlay, LiveHash: lh, UnknownFields: lr.UnknownFields})
			}
			j++
		default:
			// The last live repo of a name wins, as a lookup by name would.
			for j+1 < len(order) && live[order[j+1]].Name == lr.Name {
				j++
				lr, lh = &live[order[j]], liveHash[order[j]]
			}
			plan.Changes = append(plan.Changes, desiredChange(names[i], desired.Repos[names[i]], lr, lh, stalled))
			matched = names[i]
			i++
			j++
		}
	}
	return plan
}

// desiredChange plans one file's repo; lr is nil when the repo does not
// exist.
func desiredChange(name string, d DesiredRepo, lr *chainguard.Repo, liveHash string, stalled map[string]string) Change {
	c := Change{Repo: name, File: d.File, DesiredHash: d.Hash, Desired: d.Overlay, Warnings: d.Warnings}
	if lr != nil {
		c.RepoID, c.Live, c.LiveHash, c.UnknownFields = lr.ID, lr.Overlay, liveHash, lr.UnknownFields
	}
	switch {
	case d.Err != nil:
		c.Action, c.Err = vocab.ActionInvalid, d.Err
	case lr == nil:
		c.Action, c.Err = vocab.ActionMissing, fmt.Errorf("%s: repo %q does not exist in the organization: %w", d.File, name, chainguard.ErrNotFound)
	case !lr.CustomAssembly:
		c.Action, c.Err = vocab.ActionInvalid, fmt.Errorf("%s: repo %q is not a Custom Assembly image (custom_overlay can only be set for custom images)", d.File, name)
	case d.Hash == c.LiveHash:
		c.Action = vocab.ActionNoop
	default:
		c.Action = vocab.ActionUpdate
		if d.Overlay.IsZero() {
			c.Action = vocab.ActionReset
		}
		c.Diff = overlay.Diff(lr.Overlay, d.Overlay)
		if h, ok := stalled[name]; ok && h == d.Hash {
			c.Stalled = true
		}
	}
	return c
}

// liveOrder is the indexes of live in name order (stable): the identity
// when the list is already sorted, as ListRepos returns it.
func liveOrder(live []chainguard.Repo) []int {
	order := make([]int, len(live))
	sorted := true
	for i := range live {
		order[i] = i
		if i > 0 && live[i].Name < live[i-1].Name {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(live[a].Name, live[b].Name) })
	}
	return order
}

// Problems returns the overlay problems behind an invalid change, if any.
func (c Change) Problems() overlay.Problems {
	var ps overlay.Problems
	if errors.As(c.Err, &ps) {
		return ps
	}
	return nil
}
