package reconciler

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// The lifecycle of a repo beyond updates: the settings file creates repos
// from a source and suspends them, and --prune resets the repos whose file
// is gone. Compute's plan is turned into the lifecycle's by one pure pass,
// lifecycle, in this order:
//
//  1. create: a file whose repo does not exist (missing) is created when
//     the settings file gives the repo a source, unless the service refused
//     that source for this file recently (then it is invalid, with the
//     refusal placed at the source's line);
//  2. prune: with Policy.Prune, a repo with a live overlay that no file
//     names (orphan) is reset to the empty overlay when a file once named
//     it: Desired.EverPaths, the revision's whole history, holds NAME.yaml
//     or NAME.yml. A repo no file ever named stays orphan;
//  3. suspend: a suspended repo gets the action suspended, and Would says
//     what it would otherwise get (invalid and missing files stay errors,
//     orphans stay orphans);
//  4. guards, each holding back changes that keep their action (Held, with
//     the reason in Err, so nothing writes them): no prune when the folder
//     holds no valid file, none when more repos would be pruned than
//     Policy.PruneLimit, and nothing at all written, created or pruned
//     while the settings file is invalid (it could hide a suspend).

// DefaultPruneLimit is the most repos one cycle prunes unless told
// otherwise (--prune-limit).
const DefaultPruneLimit = 5

// Policy is what the command line allows beyond updates.
type Policy struct {
	// Prune turns pruning on (--prune).
	Prune bool
	// PruneLimit is the most repos one cycle may prune (--prune-limit);
	// a cycle that would prune more prunes none. DefaultPruneLimit when
	// zero or less.
	PruneLimit int
}

func (p Policy) limit() int {
	if p.PruneLimit <= 0 {
		return DefaultPruneLimit
	}
	return p.PruneLimit
}

// PruneReport is what pruning decided in one plan.
type PruneReport struct {
	// Enabled and Limit are the policy.
	Enabled bool
	Limit   int
	// Candidates are the repos the plan prunes (suspended repos are never
	// candidates), sorted.
	Candidates []string
	// Held is why none of them is pruned, "" when they are; Reason says
	// it for people.
	Held   vocab.HoldReason
	Reason string
}

// refusal is a source the service refused for a repo's create: the create
// is not tried again while the source and the file stay the same (until
// the reconciler forgets the refusal, see Reconciler.refusals).
type refusal struct {
	source, desiredHash, cause string
}

// emptyHash is the hash of the empty overlay: what a prune writes.
func emptyHash() string { return overlay.Hash(overlay.Overlay{}) }

// lifecycle turns Compute's plan into the lifecycle's (see above). It is
// pure. stalled is Compute's; refused maps a repo to the source refused for
// it.
func lifecycle(p Plan, d Desired, pol Policy, stalled map[string]string, refused map[string]refusal) Plan {
	p.SettingsFile, p.SettingsErr, p.SettingsWarnings = d.SettingsFile, d.SettingsErr, d.SettingsWarnings
	p.Prune = PruneReport{Enabled: pol.Prune, Limit: pol.limit()}
	s := d.Settings // the zero Settings when the file is invalid
	var prunes []int
	for i := range p.Changes {
		c := &p.Changes[i]
		set := s.Repo(c.Repo)
		switch {
		case c.Action == vocab.ActionMissing && set.Source != "":
			c.Action, c.Err, c.Source = vocab.ActionCreate, nil, set.Source
			at := s.SourceProblem(c.Repo, "")
			c.SourceAt = &at
			c.Diff = overlay.Diff(overlay.Overlay{}, c.Desired)
			if r, ok := refused[c.Repo]; ok && r.source == set.Source && r.desiredHash == c.DesiredHash {
				c.Action, c.Diff, c.SourceRefused = vocab.ActionInvalid, nil, true
				c.Err = overlay.Problems{sourceProblem(*c, r.cause)}
			}
		case c.Action == vocab.ActionOrphan && pol.Prune:
			if file, ok := everHeld(d.EverPaths, c.Repo); ok {
				c.Action, c.File = vocab.ActionPrune, path.Join(d.Dir, file)
				c.Desired, c.DesiredHash = overlay.Overlay{}, emptyHash()
				c.Diff = overlay.Diff(c.Live, overlay.Overlay{})
			}
		}
		if c.Action == vocab.ActionCreate || c.Action == vocab.ActionPrune {
			if h, ok := stalled[c.Repo]; ok && h == c.DesiredHash {
				c.Stalled = true
			}
		}
		if set.Suspend {
			switch c.Action {
			case vocab.ActionNoop, vocab.ActionUpdate, vocab.ActionReset, vocab.ActionCreate, vocab.ActionPrune:
				c.Would, c.Action, c.Stalled = c.Action, vocab.ActionSuspended, false
				if c.Would.Writes() {
					c.Held = vocab.HoldSuspended
				}
			}
		}
		if c.Action == vocab.ActionPrune {
			prunes = append(prunes, i)
			p.Prune.Candidates = append(p.Prune.Candidates, c.Repo)
		}
	}

	hold := func(which []int, why vocab.HoldReason, err error) {
		for _, i := range which {
			p.Changes[i].Held, p.Changes[i].Err = why, err
		}
	}
	if valid, _, _ := d.Counts(); len(prunes) > 0 && valid == 0 {
		p.Prune.Held = vocab.HoldNoFiles
		p.Prune.Reason = fmt.Sprintf("%s holds no valid file: nothing is pruned while it holds none (%d repo(s) would be)", d.Dir, len(prunes))
	} else if len(prunes) > p.Prune.Limit {
		p.Prune.Held = vocab.HoldPruneLimit
		p.Prune.Reason = fmt.Sprintf("%d repos would be pruned, more than --prune-limit %d: none is pruned", len(prunes), p.Prune.Limit)
	}
	if d.SettingsErr != nil {
		var writes []int
		for i, c := range p.Changes {
			if c.Action.Writes() {
				writes = append(writes, i)
			}
		}
		hold(writes, vocab.HoldSettingsInvalid, fmt.Errorf("%s is invalid: nothing is written, created or pruned until it is fixed", d.SettingsFile))
		if len(prunes) > 0 {
			p.Prune.Held = vocab.HoldSettingsInvalid
			p.Prune.Reason = fmt.Sprintf("%s is invalid: nothing is pruned until it is fixed", d.SettingsFile)
		}
	} else if p.Prune.Held != "" {
		hold(prunes, p.Prune.Held, errors.New("pruning refused: "+p.Prune.Reason))
	}
	return p
}

// everHeld returns the file (NAME.yaml, else NAME.yml) that some commit of
// the history held for repo, from the sorted names everPaths.
func everHeld(everPaths []string, repo string) (string, bool) {
	for _, f := range []string{repo + ".yaml", repo + ".yml"} {
		if _, ok := slices.BinarySearch(everPaths, f); ok {
			return f, true
		}
	}
	return "", false
}

// sourceProblem is the error of a create whose source the service refused,
// placed at the source's line in the settings file.
func sourceProblem(c Change, cause string) overlay.Problem {
	var p overlay.Problem
	if c.SourceAt != nil {
		p = *c.SourceAt
	}
	p.Message = fmt.Sprintf("the organization cannot create repo %q from source %q: %s", c.Repo, c.Source, cause)
	return p
}

// refusalCause is what the service said when it refused a source: its
// status message, else the error.
func refusalCause(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Message()
	}
	return err.Error()
}

// writeCall makes one attempt of a change's write: CreateRepo for a create,
// WriteOverlay (the merge write that keeps every field the file format does
// not cover) for an update, a reset and a prune.
func (r *Reconciler) writeCall(ctx context.Context, c Change) (chainguard.Repo, error) {
	if c.Action == vocab.ActionCreate {
		return r.reg.CreateRepo(ctx, r.orgID, c.Repo, c.Source, c.Desired)
	}
	return r.reg.WriteOverlay(ctx, c.RepoID, c.Desired)
}

// writtenKind is the event of a successful write of action a.
func writtenKind(a vocab.Action) vocab.EventKind {
	switch a {
	case vocab.ActionCreate:
		return vocab.EventCreated
	case vocab.ActionPrune:
		return vocab.EventPruned
	}
	return vocab.EventWritten
}

// lifecycleWould is the write a repo waits for (store.RepoState.Would):
// what a suspended repo would get, or a create or prune (the transition
// clears it once done).
func lifecycleWould(c Change) vocab.Action {
	switch {
	case c.Action == vocab.ActionSuspended && c.Would.Writes():
		return c.Would
	case c.Action == vocab.ActionCreate || c.Action == vocab.ActionPrune:
		return c.Action
	}
	return ""
}
