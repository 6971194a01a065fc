package reconciler

import (
	"errors"
	"fmt"
	"sort"

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
}

// Drifted reports whether the change would write.
func (c Change) Drifted() bool { return c.Action.Writes() }

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
		if c.Action.Error() {
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
			c.Action, c.Err = vocab.ActionInvalid, d.Err
		case !exists:
			c.Action, c.Err = vocab.ActionMissing, fmt.Errorf("%s: repo %q does not exist in the organization: %w", d.File, name, chainguard.ErrNotFound)
		case !lr.CustomAssembly:
			c.Action, c.Err = vocab.ActionInvalid, fmt.Errorf("%s: repo %q is not a Custom Assembly image (custom_overlay can only be set for custom images)", d.File, name)
		case d.Hash == c.LiveHash:
			c.Action = vocab.ActionNoop
		default:
			c.Action = vocab.ActionUpdate
			if d.Hash == empty {
				c.Action = vocab.ActionReset
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
		plan.Changes = append(plan.Changes, Change{Repo: lr.Name, RepoID: lr.ID, Action: vocab.ActionOrphan, Live: lr.Overlay, LiveHash: liveHash[lr.Name]})
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
