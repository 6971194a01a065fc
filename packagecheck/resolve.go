package packagecheck

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"chainguard.dev/apko/pkg/apk/apk"

	"github.com/ca-reconciler/ca-reconciler/internal/editdist"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// target is one repo to resolve: the file's packages on top of the base
// image's, for the architectures the repo builds.
type target struct {
	file      string
	packages  []string
	positions map[string]overlay.Position
	base      []string
	archs     []string
}

// archMark stands for the architectures in a message until findings of one
// package on several architectures are merged.
const archMark = "\x00ARCHS\x00"

// finding is one package that fails on one architecture.
type finding struct {
	i    int // index in the file's packages
	arch string
	msg  string // with archMark where the architectures go
}

// session resolves for one check: it remembers every resolve it made, so
// repos with the same packages, base and architectures cost one resolve.
type session struct {
	ix  *index
	org string

	mu       sync.Mutex
	resolved map[string]error
	resolves int
}

func newSession(ix *index, org string) *session {
	return &session{ix: ix, org: org, resolved: map[string]error{}}
}

// resolve runs apko's resolver for pkgs on arch, with the other
// architectures of archs disqualifying what they lack, as apko's multi-arch
// build does (build.NewMultiArch sets ByArch; ResolveWorld passes it to
// GetPackagesWithDependencies).
func (s *session) resolve(ctx context.Context, arch string, archs, pkgs []string) error {
	key := arch + "\x01" + strings.Join(archs, "\x00") + "\x01" + strings.Join(pkgs, "\x00")
	s.mu.Lock()
	err, ok := s.resolved[key]
	s.mu.Unlock()
	if ok {
		return err
	}
	all := make(map[string][]apk.NamedIndex, len(archs))
	for _, a := range archs {
		all[a] = []apk.NamedIndex{s.ix.byArch[a]}
	}
	r := apk.NewPkgResolver(ctx, []apk.NamedIndex{s.ix.byArch[arch]})
	_, _, err = r.GetPackagesWithDependencies(ctx, pkgs, all)
	s.mu.Lock()
	s.resolved[key] = err
	s.resolves++
	s.mu.Unlock()
	return err
}

// check returns the problems of t's packages (errors at the file's
// positions) and notes: what the check could not decide.
func (s *session) check(ctx context.Context, t target) (overlay.Problems, []string) {
	// First each package alone, on every architecture: a package that
	// fails there is reported once and left out of the resolves, where it
	// would fail again on every architecture.
	var findings []finding
	var ok []string
	for i, p := range t.packages {
		fs := s.precheck(ctx, t, i, p)
		if len(fs) > 0 {
			findings = append(findings, fs...)
			continue
		}
		ok = append(ok, p)
	}
	var notes []string
	noteArchs := map[string][]string{}
	for _, arch := range t.archs {
		fs, note := s.checkArch(ctx, t, arch, ok)
		findings = append(findings, fs...)
		if note != "" {
			if _, seen := noteArchs[note]; !seen {
				notes = append(notes, note)
			}
			noteArchs[note] = append(noteArchs[note], arch)
		}
	}
	for i, n := range notes {
		notes[i] = strings.ReplaceAll(n, archMark, joinArchs(noteArchs[n]))
	}
	return s.problems(t, findings), notes
}

// checkArch resolves the file's packages that pass alone (ok) on top of the
// base on arch, and when that fails finds which of them make it fail.
func (s *session) checkArch(ctx context.Context, t target, arch string, ok []string) ([]finding, string) {
	if len(ok) == 0 {
		return nil, ""
	}
	base := t.base
	note := ""
	if len(base) > 0 {
		if err := s.resolve(ctx, arch, t.archs, base); err != nil {
			note = fmt.Sprintf("the base image's packages do not resolve on %s against the index today (%s); the file's packages were checked without them", archMark, s.explain(err))
			base = nil
		}
	}
	if s.resolve(ctx, arch, t.archs, slices.Concat(base, ok)) == nil {
		return nil, note
	}
	// Something among ok fails with the base: add the file's packages one
	// at a time, in the file's order, and blame each one whose addition
	// makes the set fail.
	var findings []finding
	accepted := slices.Clone(base)
	for i, p := range t.packages {
		if !slices.Contains(ok, p) {
			continue
		}
		if err := s.resolve(ctx, arch, t.archs, slices.Concat(accepted, []string{p})); err != nil {
			findings = append(findings, finding{i: i, arch: arch, msg: fmt.Sprintf("%q cannot be installed on %s: %s", p, archMark, s.explain(err))})
			continue
		}
		accepted = append(accepted, p)
	}
	if len(findings) == 0 {
		// Each addition resolved but not all at once (the resolver's
		// choices depend on the order): blame the last package.
		last := ok[len(ok)-1]
		err := s.resolve(ctx, arch, t.archs, slices.Concat(base, ok))
		findings = append(findings, finding{i: slices.Index(t.packages, last), arch: arch,
			msg: fmt.Sprintf("%q cannot be installed on %s together with the other packages: %s", last, archMark, s.explain(err))})
	}
	return findings, note
}

// precheck finds what is wrong with one package by itself: a name an
// architecture's index does not have, a version constraint nothing
// satisfies, or no version that is built for every architecture (apko
// builds every architecture of an image from the same versions).
func (s *session) precheck(ctx context.Context, t target, i int, p string) []finding {
	name := constraintName(p)
	var missing, present []string
	for _, a := range t.archs {
		if s.ix.names[a][name] {
			present = append(present, a)
		} else {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%q is not available to %s on %s", p, s.org, archMark)
		if len(present) > 0 {
			msg += fmt.Sprintf(" (it is on %s)", joinArchs(present))
		} else if near := s.nearest(missing[0], name); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return findingsOn(i, missing, msg)
	}
	// The versions that satisfy p, by architecture.
	satisfying := map[string][]string{}
	var none []string
	for _, a := range t.archs {
		r := apk.NewPkgResolver(ctx, []apk.NamedIndex{s.ix.byArch[a]})
		found, err := r.ResolvePackage(p, map[*apk.RepositoryPackage]string{})
		if err != nil || len(found) == 0 {
			none = append(none, a)
			continue
		}
		for _, f := range found {
			if !slices.Contains(satisfying[a], f.Version) {
				satisfying[a] = append(satisfying[a], f.Version)
			}
		}
	}
	if len(none) > 0 {
		// Grouped by what each architecture has, so one message names
		// every architecture with the same versions.
		var out []finding
		for _, a := range none {
			msg := fmt.Sprintf("%q: no version of %s on %s satisfies it", p, name, archMark)
			if vs := s.versions(a, name); len(vs) > 0 {
				msg += fmt.Sprintf(" (available: %s)", strings.Join(vs, ", "))
			}
			out = append(out, finding{i: i, arch: a, msg: msg})
		}
		return out
	}
	if len(t.archs) < 2 || len(satisfying[t.archs[0]]) == 0 {
		return nil
	}
	common := slices.Clone(satisfying[t.archs[0]])
	for _, a := range t.archs[1:] {
		common = slices.DeleteFunc(common, func(v string) bool { return !slices.Contains(satisfying[a], v) })
	}
	if len(common) > 0 {
		return nil
	}
	var has []string
	for _, a := range t.archs {
		has = append(has, a+" has "+strings.Join(newestFirst(satisfying[a], 3), ", "))
	}
	msg := fmt.Sprintf("%q: no version of %s is built for both %s (%s)", p, name, archMark, strings.Join(has, "; "))
	if len(t.archs) > 2 {
		msg = strings.Replace(msg, "both ", "all of ", 1)
	}
	return findingsOn(i, t.archs, msg)
}

func findingsOn(i int, archs []string, msg string) []finding {
	out := make([]finding, len(archs))
	for j, a := range archs {
		out[j] = finding{i: i, arch: a, msg: msg}
	}
	return out
}

// problems merges the findings of one package and message across
// architectures and places them at the file's positions.
func (s *session) problems(t target, findings []finding) overlay.Problems {
	type key struct {
		i   int
		msg string
	}
	archs := map[key][]string{}
	var order []key
	for _, f := range findings {
		k := key{f.i, f.msg}
		if _, seen := archs[k]; !seen {
			order = append(order, k)
		}
		archs[k] = append(archs[k], f.arch)
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].i < order[b].i })
	var out overlay.Problems
	for _, k := range order {
		field := fmt.Sprintf("contents.packages[%d]", k.i)
		pos := t.positions[field]
		out = append(out, overlay.Problem{
			File:    t.file,
			Line:    pos.Line,
			Column:  pos.Column,
			Field:   field,
			Message: strings.ReplaceAll(k.msg, archMark, joinArchs(archs[k])),
		})
	}
	return out
}

// versions lists the versions of name on arch, newest first, at most five.
func (s *session) versions(arch, name string) []string {
	var vs []string
	for _, p := range s.ix.byArch[arch].Packages() {
		if p.Name == name && !slices.Contains(vs, p.Version) {
			vs = append(vs, p.Version)
		}
	}
	return newestFirst(vs, 5)
}

// newestFirst sorts apk versions newest first and keeps at most n, with
// "..." when there were more.
func newestFirst(vs []string, n int) []string {
	vs = slices.Clone(vs)
	slices.SortFunc(vs, func(a, b string) int {
		va, errA := apk.ParseVersion(a)
		vb, errB := apk.ParseVersion(b)
		if errA != nil || errB != nil {
			return strings.Compare(b, a)
		}
		return apk.CompareVersions(vb, va)
	})
	if len(vs) > n {
		vs = append(vs[:n], "...")
	}
	return vs
}

// nearest is the package name on arch closest to name by edit distance, if
// one is close enough to be a likely typo or version slip; ties go to the
// greater name, which for "mongo-8.0" against "mongo-7.0" is the newer.
func (s *session) nearest(arch, name string) string {
	limit := max(1, len(name)/3)
	best, bestD := "", limit+1
	for cand := range s.ix.names[arch] {
		if strings.Contains(cand, ":") {
			continue
		}
		d := editdist.Within(name, cand, limit)
		if d < bestD || (d == bestD && cand > best) {
			best, bestD = cand, d
		}
	}
	if bestD > limit {
		return ""
	}
	return best
}

// joinArchs is "x86_64", "x86_64 and aarch64", or "a, b and c".
func joinArchs(archs []string) string {
	switch len(archs) {
	case 0:
		return ""
	case 1:
		return archs[0]
	}
	return strings.Join(archs[:len(archs)-1], ", ") + " and " + archs[len(archs)-1]
}
