package packagecheck

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"chainguard.dev/apko/pkg/apk/apk"
)

// explain turns an error of apko's resolver into one line: what failed, in
// apk's terms, and through which dependencies.
//
// The resolver nests its errors: a ConstraintError names the constraint
// being solved, a DepError the package whose dependencies were being
// solved, and the innermost error says what went wrong ("nothing provides
// X", every candidate disqualified and why, or a conflict between two
// selected packages).
func (s *session) explain(err error) string {
	var path []string // packages whose dependencies failed, outermost first
	constraint := ""
	e := err
	for e != nil {
		switch t := e.(type) {
		case *apk.ConstraintError:
			constraint, e = t.Constraint, t.Wrapped
			continue
		case *apk.DepError:
			path, e = append(path, pkgID(t.Package.Filename())), t.Wrapped
			continue
		}
		// A plain wrapper ("constraining deps: %w") around more of the chain.
		var ce *apk.ConstraintError
		var de *apk.DepError
		if u := errors.Unwrap(e); u != nil && (errors.As(u, &ce) || errors.As(u, &de)) {
			e = u
			continue
		}
		break
	}
	if e == nil {
		return "the resolver failed without saying why"
	}
	via := ""
	if len(path) > 0 {
		via = " (needed by " + strings.Join(path, " → ") + ")"
	}
	msg := e.Error()
	switch {
	case strings.HasPrefix(msg, "nothing provides "):
		name := strings.TrimPrefix(msg, "nothing provides ")
		if len(path) == 0 {
			return fmt.Sprintf("%s is not available to %s", name, s.org)
		}
		return fmt.Sprintf("its dependency %s is not available to %s%s", name, s.org, via)
	case msg == "not in indexes":
		return fmt.Sprintf("%q is not in the index%s", constraint, via)
	case strings.Contains(msg, " disqualified because "):
		reasons := disqualified(msg)
		if len(reasons) == 1 {
			return reasons[0] + via
		}
		if len(reasons) > 3 {
			reasons = append(reasons[:3], fmt.Sprintf("and %d more", len(reasons)-3))
		}
		return fmt.Sprintf("every candidate for %q is ruled out: %s%s", constraint, strings.Join(reasons, "; "), via)
	case strings.HasPrefix(msg, "selecting package "), strings.HasPrefix(msg, "we already selected "):
		return "conflict: " + dropAPK(msg) + via
	}
	return dropAPK(msg) + via
}

var (
	disqualifiedLine = regexp.MustCompile(`^\s*(\S+) disqualified because (.*)$`)
	alreadyProvides  = regexp.MustCompile(`^(\S+) already provides (\S+)$`)
	notForArch       = regexp.MustCompile(`^package "(\S+)" not available for arch "(\S+)"$`)
)

// disqualified rewrites the reasons the resolver gave for ruling out each
// candidate ("  X disqualified because R", one per line), once each.
func disqualified(msg string) []string {
	var reasons []string
	for _, line := range strings.Split(msg, "\n") {
		m := disqualifiedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cand, why := pkgID(m[1]), dropAPK(m[2])
		var r string
		if a := alreadyProvides.FindStringSubmatch(why); a != nil {
			r = fmt.Sprintf("%s conflicts with %s (both provide %s)", cand, a[1], a[2])
		} else if a := notForArch.FindStringSubmatch(why); a != nil {
			r = fmt.Sprintf("%s is not built for %s", pkgID(a[1]), a[2])
		} else {
			r = cand + ": " + why
		}
		if !slices.Contains(reasons, r) {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return []string{dropAPK(strings.TrimSpace(msg))}
	}
	return reasons
}

// pkgID is a package file name without ".apk": "curl-8.1.0-r0".
func pkgID(filename string) string { return strings.TrimSuffix(filename, ".apk") }

var apkSuffix = regexp.MustCompile(`([A-Za-z0-9._+-]+)\.apk\b`)

// dropAPK takes ".apk" off the package file names in msg.
func dropAPK(msg string) string { return apkSuffix.ReplaceAllString(msg, "$1") }
