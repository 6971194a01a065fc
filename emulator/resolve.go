package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"chainguard.dev/apko/pkg/apk/apk"
	"chainguard.dev/apko/pkg/build/types"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
)

// A build installs the world: the base image's packages, then the
// overlay's. The real service builds with apko, so the emulator decides
// with apko's own resolver (chainguard.dev/apko/pkg/apk/apk, as apko's
// multi-architecture builds call it: one resolver per architecture, with
// every architecture's index so that a package missing from one is
// disqualified on all), and explains a failure the way apk does:
//
//	ERROR: unable to select packages:
//	  mongo-9.0 (no such package):
//	    required by: world[mongo-9.0]
//
// for a package (or a dependency) nothing provides;
//
//	  curl-1.0-r0:
//	    breaks: world[curl=1.2-r0]
//
// for a version constraint the package does not satisfy; and
//
//	  b-1.0-r0:
//	    conflicts: a-1.0-r0[cmd:foo=1]
//	    satisfies: world[b]
//
// for two packages that provide one name at different versions.

// resolution is how a build's packages resolved.
type resolution struct {
	// locked are the packages installed, "name=version", sorted: the
	// packages of the locked configuration. Without a catalog, the world
	// as given.
	locked []string
	// failed is the architecture whose resolution failed, and problems
	// apk's explanation, one problem per element (several lines each).
	failed   string
	problems []string
	// solver is apko's own error, for the log.
	solver string
}

// world is what a build of repo installs: base packages, then the
// overlay's, each once.
func world(rec *repoRecord) []string {
	var out []string
	for _, p := range slices.Concat(rec.basePackages, rec.repo.GetCustomOverlay().GetContents().GetPackages()) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// archsOf are the architectures a repo builds for.
func archsOf(rec *repoRecord) []string {
	if len(rec.archs) == 0 {
		return defaultArchs
	}
	return rec.archs
}

// resolveBuild resolves the world of rec for each of its architectures
// against the organization's catalog (nil: every package resolves).
func resolveBuild(c *catalog, rec *repoRecord) resolution {
	w := world(rec)
	if c == nil {
		return resolution{locked: w}
	}
	ctx := context.Background()
	archs := archsOf(rec)
	all := map[string][]apk.NamedIndex{}
	for _, a := range archs {
		all[a] = []apk.NamedIndex{c.index(a)}
	}
	if len(all) == 1 {
		all = nil
	}
	var locked []string
	for _, a := range archs {
		r := apk.NewPkgResolver(ctx, []apk.NamedIndex{c.index(a)})
		pkgs, _, err := r.GetPackagesWithDependencies(ctx, w, all)
		if err != nil {
			res := resolution{failed: a, solver: err.Error()}
			// apk explains each architecture on its own; when this one
			// is fine but another lacks a package, that one says why.
			for _, b := range slices.Concat([]string{a}, archs) {
				if problems := explain(c, b, w); len(problems) > 0 {
					res.failed, res.problems = b, problems
					break
				}
			}
			return res
		}
		if locked == nil {
			for _, p := range pkgs {
				locked = append(locked, p.Name+"="+p.Version)
			}
			sort.Strings(locked)
		}
	}
	return resolution{locked: locked}
}

// index returns the resolver's index of one architecture (empty when the
// catalog has nothing for it).
func (c *catalog) index(arch string) apk.NamedIndex {
	if idx, ok := c.indexes[arch]; ok {
		return idx
	}
	repo := &apk.Repository{URI: "https://apk.cgr.dev/emulator/" + arch}
	idx := apk.NewNamedRepositoryWithIndex("", repo.WithIndex(&apk.APKIndex{}))
	c.indexes[arch] = idx
	return idx
}

// explain says, in apk's words, why world cannot be installed on arch:
// every requirement nothing provides, every version constraint no package
// satisfies, every dependency that fails the same way, and every pair of
// chosen packages that provide one name at different versions.
func explain(c *catalog, arch string, world []string) []string {
	pkgs := c.byArch[arch]
	providers := map[string][]*apk.Package{}
	for _, p := range pkgs {
		providers[p.Name] = append(providers[p.Name], p)
		for _, pv := range p.Provides {
			n := apk.ResolvePackageNameVersionPin(pv).Name
			providers[n] = append(providers[n], p)
		}
	}
	var problems []string
	chosen := map[string]*apk.Package{} // by package name
	requiredBy := map[*apk.Package]string{}
	var visit func(constraint, by string)
	visit = func(constraint, by string) {
		if strings.HasPrefix(constraint, "!") {
			return
		}
		pc := apk.ResolvePackageNameVersionPin(constraint)
		cands := providers[pc.Name]
		if len(cands) == 0 {
			problems = append(problems, fmt.Sprintf("  %s (no such package):\n    required by: %s[%s]", pc.Name, by, constraint))
			return
		}
		var ok []*apk.Package
		for _, p := range cands {
			if satisfies(p, pc) {
				ok = append(ok, p)
			}
		}
		if len(ok) == 0 {
			best := cands[len(cands)-1]
			problems = append(problems, fmt.Sprintf("  %s-%s:\n    breaks: %s[%s]", best.Name, best.Version, by, constraint))
			return
		}
		best := ok[len(ok)-1] // the newest that satisfies
		if prev, done := chosen[best.Name]; done && prev == best {
			return
		}
		chosen[best.Name] = best
		requiredBy[best] = fmt.Sprintf("%s[%s]", by, constraint)
		for _, d := range best.Dependencies {
			visit(d, best.Name+"-"+best.Version)
		}
	}
	for _, w := range world {
		visit(w, "world")
	}
	// Conflicts: two chosen packages that provide one name at different
	// versions (or one package name at two versions).
	names := slices.Sorted(maps.Keys(chosen))
	provided := map[string]*apk.Package{}
	providedVersion := map[string]string{}
	for _, n := range names {
		p := chosen[n]
		for _, pv := range p.Provides {
			pc := apk.ResolvePackageNameVersionPin(pv)
			if pc.Version == "" {
				continue // a virtual: no conflict
			}
			if other, ok := provided[pc.Name]; ok && other != p && providedVersion[pc.Name] != pc.Version {
				problems = append(problems, fmt.Sprintf("  %s-%s:\n    conflicts: %s-%s[%s=%s]\n    satisfies: %s",
					p.Name, p.Version, other.Name, other.Version, pc.Name, providedVersion[pc.Name], requiredBy[p]))
				continue
			}
			provided[pc.Name], providedVersion[pc.Name] = p, pc.Version
		}
	}
	return problems
}

// satisfies reports whether p, or what p provides, meets constraint pc.
func satisfies(p *apk.Package, pc apk.ParsedConstraint) bool {
	check := func(version string) bool {
		v, err := apk.ParseVersion(version)
		if err != nil {
			return false
		}
		ok, err := pc.SatisfiedBy(v)
		return err == nil && ok
	}
	if p.Name == pc.Name {
		return check(p.Version)
	}
	for _, pv := range p.Provides {
		c := apk.ResolvePackageNameVersionPin(pv)
		if c.Name != pc.Name {
			continue
		}
		if pc.Version == "" {
			return true
		}
		if c.Version != "" && check(c.Version) {
			return true
		}
	}
	return false
}

// lockedConfig is a successful build's locked configuration: apko's image
// configuration JSON, with every installed package pinned as apko's lock
// pins it, the overlay's environment, annotations and accounts, and the
// architectures.
func lockedConfig(rec *repoRecord, locked []string) string {
	return apkoConfig(rec, locked)
}

// buildConfig is the report's configuration: the same, unpinned, with the
// world as requested.
func buildConfig(rec *repoRecord) string {
	return apkoConfig(rec, world(rec))
}

func apkoConfig(rec *repoRecord, packages []string) string {
	co := rec.repo.GetCustomOverlay()
	cfg := types.ImageConfiguration{
		Contents:    types.ImageContents{Packages: packages, RuntimeOnlyRepositories: co.GetContents().GetRuntimeRepositories()},
		Environment: co.GetEnvironment(),
		Annotations: co.GetAnnotations(),
		Accounts:    apkoAccounts(co.GetAccounts()),
	}
	for _, a := range archsOf(rec) {
		cfg.Archs = append(cfg.Archs, types.ParseArchitecture(a))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "{}"
	}
	return string(b)
}

func apkoAccounts(a *registryv1.ApkoConfig_Accounts) types.ImageAccounts {
	out := types.ImageAccounts{RunAs: a.GetRunAs()}
	for _, u := range a.GetUsers() {
		out.Users = append(out.Users, types.User{
			UserName: u.GetUserName(), UID: u.GetUid(), GID: types.GID(u.Gid), Shell: u.GetShell(), HomeDir: u.GetHomeDir(),
		})
	}
	for _, g := range a.GetGroups() {
		out.Groups = append(out.Groups, types.Group{GroupName: g.GetGroupName(), GID: g.GetGid(), Members: g.GetMembers()})
	}
	return out
}
