package reconciler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// PackageChecker says which of the repos about to be written would fail
// to build against the organization's package index, and why
// (packagecheck.Checker). It never fails: a check it cannot make is
// skipped or unavailable and refuses nothing.
type PackageChecker interface {
	Check(ctx context.Context, org packagecheck.Org, repos []packagecheck.Repo) packagecheck.Result
}

// WithPackageCheck makes every cycle, and Plan, check the repos it is
// about to write before writing them: a repo the check refuses becomes
// invalid with the check's problems (file:line, package, architecture) and
// is not written; every other repo still reconciles. A repo's result is
// reused while its file and its live overlay stay the same, for at most
// recheck (the index's own interval, --package-index-interval), so that a
// repo left drifted (detect mode, a failing write) is not checked again on
// every cycle.
func WithPackageCheck(c PackageChecker, recheck time.Duration) Option {
	return func(r *Reconciler) {
		if recheck <= 0 {
			recheck = packagecheck.DefaultInterval
		}
		r.check = &checkState{checker: c, recheck: recheck, results: map[string]checkEntry{}}
	}
}

// checkState is what the reconciler keeps of the package check between
// cycles: the last result of every repo still to be written.
type checkState struct {
	checker PackageChecker
	recheck time.Duration
	results map[string]checkEntry // by repo name
}

// checkEntry is one repo's check result, for the file and live overlay
// that it was made for.
type checkEntry struct {
	key      string // DesiredHash and LiveHash
	at       time.Time
	problems overlay.Problems
	notes    []string
}

// PackageCheckReport is what the package check did for one plan.
type PackageCheckReport struct {
	// Status is the check's, or "" when no repo needed one (nothing to
	// write, or every result reused is of an earlier, checked, cycle:
	// then it is checked).
	Status vocab.PackageCheckStatus
	// Reason says why the check was skipped or unavailable, or that a
	// stale index was used; Capability names what the identity lacks.
	Reason, Capability string
	// IndexReadAt is when the index used was read (zero when none).
	IndexReadAt time.Time
	// Checked are the repos checked for this plan, Reused those of them
	// whose earlier result was reused, and Refused those refused; sorted.
	Checked, Reused, Refused []string
	// Calls counts the API calls the check made (ListAPKs and
	// ListBuildReports), Resolves the resolver runs.
	Calls, Resolves int
}

// needsCheck reports whether a change is one the package check must see:
// a write that is going to happen (an update or a create: Action.Writes;
// a reset or a prune names no package) of a file naming packages.
func needsCheck(c Change) bool {
	return c.Action.Writes() && !c.Stalled && c.Err == nil && len(c.Desired.Packages) > 0
}

// checkKey is what a check result depends on besides the index: the file
// and the live overlay (whose packages are taken out of the base).
func checkKey(c Change) string { return c.DesiredHash + "\x00" + c.LiveHash }

// checkPackages runs the package check for the plan's changes that are
// about to be written (d is the desired state the plan was computed from,
// for the files' positions) and returns the plan with the refused ones made
// invalid (Refuse), and what the check did. Without a checker it returns
// the plan as is and a nil report.
func (r *Reconciler) checkPackages(ctx context.Context, plan Plan, d *Desired) (Plan, *PackageCheckReport) {
	if r.check == nil {
		return plan, nil
	}
	now := r.clock.Now()
	st := r.check
	rep := &PackageCheckReport{}
	var repos []packagecheck.Repo
	fresh := map[string]checkEntry{}
	for _, c := range plan.Changes {
		if !needsCheck(c) {
			continue
		}
		rep.Checked = append(rep.Checked, c.Repo)
		if e, ok := st.results[c.Repo]; ok && e.key == checkKey(c) && now.Sub(e.at) < st.recheck {
			fresh[c.Repo] = e
			rep.Reused = append(rep.Reused, c.Repo)
			continue
		}
		repos = append(repos, checkRepo(c, d))
	}
	if len(rep.Checked) > 0 {
		rep.Status = vocab.PackageCheckChecked
	}
	if len(repos) > 0 {
		res := st.checker.Check(ctx, packagecheck.Org{ID: r.orgID, Name: r.orgName}, repos)
		rep.Status, rep.Reason, rep.Capability, rep.IndexReadAt = res.Status, res.Reason, res.Capability, res.IndexReadAt
		rep.Calls, rep.Resolves = res.IndexCalls+res.BuildCalls, res.Resolves
		if res.Status == vocab.PackageCheckChecked {
			for _, repo := range repos {
				fresh[repo.Name] = checkEntry{key: checkKey(changeOf(plan, repo.Name)), at: now, problems: res.Problems[repo.Name], notes: res.Notes[repo.Name]}
			}
		}
	}
	// Only the repos still to be written keep a result: one that was
	// written, or whose file changed, is checked afresh when it next
	// needs it.
	st.results = fresh
	problems := map[string]overlay.Problems{}
	notes := map[string][]string{}
	for name, e := range fresh {
		if len(e.problems) > 0 {
			problems[name] = e.problems
			rep.Refused = append(rep.Refused, name)
		}
		if len(e.notes) > 0 {
			notes[name] = e.notes
		}
	}
	slices.Sort(rep.Refused)
	if len(repos) > 0 || len(rep.Refused) > 0 {
		r.log.Debug("package check", zap.String("status", string(rep.Status)), zap.Int("repos", len(rep.Checked)),
			zap.Int("reused", len(rep.Reused)), zap.Strings("refused", rep.Refused), zap.Int("calls", rep.Calls), zap.Int("resolves", rep.Resolves))
	}
	plan = Refuse(plan, problems, notes)
	plan.PackageCheck = rep
	return plan, rep
}

// checkRepo is what the checker needs of one change: the file's packages
// with their positions, and the live overlay's packages.
func checkRepo(c Change, d *Desired) packagecheck.Repo {
	repo := packagecheck.Repo{Name: c.Repo, ID: c.RepoID, File: c.File, Packages: c.Desired.Packages, LivePackages: c.Live.Packages}
	var pos []overlay.Position
	if d != nil {
		pos = d.Repos[c.Repo].PackagePositions
	}
	if len(pos) > 0 {
		repo.Positions = make(map[string]overlay.Position, len(pos))
		for i, p := range pos {
			repo.Positions[PackageField(i)] = p
		}
	}
	return repo
}

// changeOf is the plan's change for repo (the zero Change when none).
func changeOf(plan Plan, repo string) Change {
	i, ok := slices.BinarySearchFunc(plan.Changes, repo, func(c Change, name string) int {
		switch {
		case c.Repo < name:
			return -1
		case c.Repo > name:
			return 1
		}
		return 0
	})
	if !ok {
		return Change{}
	}
	return plan.Changes[i]
}

// Refuse returns plan with every change that problems names made invalid:
// its Err is the problems (errors at the file's positions naming package
// and architecture), it is marked CheckRefused, and it has no diff, so it is
// never written; notes (what the check could not decide) go to their
// changes. It is pure; plan is not modified.
func Refuse(plan Plan, problems map[string]overlay.Problems, notes map[string][]string) Plan {
	if len(problems) == 0 && len(notes) == 0 {
		return plan
	}
	out := plan
	out.Changes = slices.Clone(plan.Changes)
	for i, c := range out.Changes {
		if ns, ok := notes[c.Repo]; ok {
			c.CheckNotes = ns
		}
		if ps, ok := problems[c.Repo]; ok && len(ps) > 0 {
			c.Action, c.Err, c.CheckRefused, c.Diff = vocab.ActionInvalid, ps, true, nil
		}
		out.Changes[i] = c
	}
	return out
}

// recordPackageCheck publishes what the check did in a cycle: the store's
// package_check and the refused-repos gauge.
func (r *Reconciler) recordPackageCheck(rep *PackageCheckReport) {
	if rep == nil {
		return
	}
	now := r.clock.Now()
	r.metrics.PackageCheck.RefusedRepos.Set(float64(len(rep.Refused)))
	r.store.Update(func(h *store.Status) {
		pc := h.PackageCheck
		if pc == nil {
			pc = &store.PackageCheckInfo{}
		}
		next := *pc
		next.Refused = slices.Clone(rep.Refused)
		if rep.Status != "" {
			next.Status, next.Reason, next.Capability = rep.Status, rep.Reason, rep.Capability
			next.LastCheck, next.Checked = now, len(rep.Checked)
			if !rep.IndexReadAt.IsZero() {
				next.IndexReadAt = rep.IndexReadAt
			}
		}
		h.PackageCheck = &next
	})
}

// summary is the plan's line about the package check: what it checked and
// refused, or why it was skipped; "" when there is no check or nothing was
// to be checked.
func (p *PackageCheckReport) summary() string {
	if p == nil || p.Status == "" {
		return ""
	}
	switch p.Status {
	case vocab.PackageCheckChecked:
		line := fmt.Sprintf("Package check: %d repo%s checked against the organization's package index, %d refused.",
			len(p.Checked), plural(len(p.Checked), "", "s"), len(p.Refused))
		if p.Reason != "" {
			line += " " + p.Reason + "."
		}
		return line
	case vocab.PackageCheckSkipped:
		return fmt.Sprintf("Package check: skipped (%s); nothing was refused.", p.Reason)
	}
	return fmt.Sprintf("Package check: %s (%s); nothing was refused.", p.Status, p.Reason)
}

// jsonPackageCheck is the package check in the JSON plan.
type jsonPackageCheck struct {
	Status      vocab.PackageCheckStatus `json:"status,omitempty"`
	Reason      string                   `json:"reason,omitempty"`
	Capability  string                   `json:"missing_capability,omitempty"`
	IndexReadAt *time.Time               `json:"index_read_at,omitempty"`
	Checked     []string                 `json:"checked"`
	Refused     []string                 `json:"refused"`
}

func (p *PackageCheckReport) json() *jsonPackageCheck {
	if p == nil {
		return nil
	}
	out := &jsonPackageCheck{Status: p.Status, Reason: p.Reason, Capability: p.Capability,
		Checked: append([]string{}, p.Checked...), Refused: append([]string{}, p.Refused...)}
	if !p.IndexReadAt.IsZero() {
		t := p.IndexReadAt.UTC()
		out.IndexReadAt = &t
	}
	return out
}

// Checks are the package check's results as the Markdown plan shows them
// (MarkdownOptions.Checks): one "packages" check per repo checked, failed
// for a refused repo (its problems are the repo's errors; what the check
// could not decide is in the repo's notes). A check that did not run
// (skipped: the identity lacks apk.list; unavailable) refused nothing and
// checked nothing, so it adds no check to any repo; the text and JSON plans
// say why it did not run.
func (p Plan) Checks() []Check {
	pc := p.PackageCheck
	if pc == nil || pc.Status != vocab.PackageCheckChecked {
		return nil
	}
	var out []Check
	for _, name := range pc.Checked {
		out = append(out, Check{Repo: name, Name: "packages", Passed: !changeOf(p, name).CheckRefused})
	}
	return out
}
