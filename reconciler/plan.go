package reconciler

import (
	"errors"
	"fmt"
	"sort"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// Action is what a cycle does (or would do) to one repo.
type Action string

// Actions, one per repo per cycle.
const (
	// ActionUpdate writes the file's overlay over a live overlay that differs.
	ActionUpdate Action = "update"
	// ActionReset clears a live overlay because the repo's file is empty.
	ActionReset Action = "reset"
	// ActionNoop leaves a repo that is in sync.
	ActionNoop Action = "noop"
	// ActionInvalid leaves a repo whose file cannot be applied.
	ActionInvalid Action = "invalid"
	// ActionMissing reports a file naming a repo that does not exist.
	ActionMissing Action = "missing"
	// ActionOrphan reports a repo with a live overlay that no file names; it
	// is never written.
	ActionOrphan Action = "orphan"
)

// Change is the plan for one repo.
type Change struct {
	Repo   string
	RepoID string
	File   string
	Action Action
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
}

// Drifted reports whether the change would write.
func (c Change) Drifted() bool { return c.Action == ActionUpdate || c.Action == ActionReset }

// Plan is the result of comparing desired and live state: one Change per
// repo, sorted by repo name.
type Plan struct {
	Revision string
	Changes  []Change
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

// HasErrors reports whether any file is invalid or names a missing repo.
func (p Plan) HasErrors() bool {
	for _, c := range p.Changes {
		if c.Action == ActionInvalid || c.Action == ActionMissing {
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
func Compute(desired Desired, live []chainguard.Repo, stalled map[string]string) Plan {
	empty := overlay.Hash(overlay.Overlay{})
	byName := make(map[string]chainguard.Repo, len(live))
	liveHash := make(map[string]string, len(live))
	for _, r := range live {
		byName[r.Name] = r
		liveHash[r.Name] = overlay.Hash(r.Overlay)
	}
	plan := Plan{Revision: desired.Revision}
	for name, d := range desired.Repos {
		c := Change{Repo: name, File: d.File, DesiredHash: d.Hash, Desired: d.Overlay}
		lr, exists := byName[name]
		if exists {
			c.RepoID, c.Live, c.LiveHash = lr.ID, lr.Overlay, liveHash[name]
		}
		switch {
		case d.Err != nil:
			c.Action, c.Err = ActionInvalid, d.Err
		case !exists:
			c.Action, c.Err = ActionMissing, fmt.Errorf("%s: repo %q does not exist in the organization: %w", d.File, name, chainguard.ErrNotFound)
		case !lr.CustomAssembly:
			c.Action, c.Err = ActionInvalid, fmt.Errorf("%s: repo %q is not a Custom Assembly image (custom_overlay can only be set for custom images)", d.File, name)
		case d.Hash == c.LiveHash:
			c.Action = ActionNoop
		default:
			c.Action = ActionUpdate
			if d.Hash == empty {
				c.Action = ActionReset
			}
			c.Diff = overlay.Diff(lr.Overlay, d.Overlay)
			if h, ok := stalled[name]; ok && h == d.Hash {
				c.Stalled = true
			}
		}
		plan.Changes = append(plan.Changes, c)
	}
	for _, lr := range live {
		if _, managed := desired.Repos[lr.Name]; managed || liveHash[lr.Name] == empty {
			continue
		}
		plan.Changes = append(plan.Changes, Change{Repo: lr.Name, RepoID: lr.ID, Action: ActionOrphan, Live: lr.Overlay, LiveHash: liveHash[lr.Name]})
	}
	sort.Slice(plan.Changes, func(i, j int) bool { return plan.Changes[i].Repo < plan.Changes[j].Repo })
	return plan
}

// Problems returns the overlay problems behind an invalid change, if any.
func (c Change) Problems() overlay.Problems {
	var ps overlay.Problems
	if errors.As(c.Err, &ps) {
		return ps
	}
	return nil
}
