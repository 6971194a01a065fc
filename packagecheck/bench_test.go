package packagecheck

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"chainguard.dev/apko/pkg/apk/apk"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// benchCatalog is emulator.SyntheticCatalog(n) as listings: most
// packages depend on a core of a hundred libraries, as in Wolfi, so an
// image of 33 named packages installs about a hundred (reported as
// installed/op).
func benchCatalog(n int) map[string]chainguard.PackageList {
	var pkgs []pkg
	for _, p := range emulator.SyntheticCatalog(n) {
		pkgs = append(pkgs, pkg{name: p.Name, version: p.Version, depends: p.Depends, provides: p.Provides})
	}
	return listings(pkgs...)
}

// benchTargets are n repos, each with a base of 30 packages and a file of
// three, drawn at random.
func benchTargets(n, catalog int) []target {
	rng := rand.New(rand.NewPCG(3, 4))
	base := make([]string, 30)
	for i := range base {
		base[i] = emulator.SyntheticPackage(rng.IntN(catalog))
	}
	out := make([]target, n)
	for i := range out {
		out[i] = target{file: fmt.Sprintf("repo-%04d.yaml", i), base: base, archs: bothArchs}
		for range 3 {
			out[i].packages = append(out[i].packages, emulator.SyntheticPackage(rng.IntN(catalog)))
		}
	}
	return out
}

// BenchmarkIndexRead is the cost of turning a listing of 5,000 packages on
// each of two architectures into apko indexes (files written and read).
func BenchmarkIndexRead(b *testing.B) {
	lists := benchCatalog(5000)
	dir := b.TempDir()
	b.ReportAllocs()
	gen := int64(0)
	for b.Loop() {
		gen++
		if _, err := indexFiles(b.Context(), dir, gen, lists, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve is the cost of resolving 1 and 1,000 repos against that
// index, every repo on both architectures.
func BenchmarkResolve(b *testing.B) {
	ix, err := indexFiles(b.Context(), b.TempDir(), 1, benchCatalog(5000), time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 1000} {
		targets := benchTargets(n, 5000)
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			refused := 0
			for b.Loop() {
				s := newSession(ix, "acme.com")
				refused = 0
				for _, t := range targets {
					if ps, _ := s.check(b.Context(), t); len(ps) > 0 {
						refused++
					}
				}
			}
			b.ReportMetric(float64(refused), "refused")
			r := apk.NewPkgResolver(b.Context(), []apk.NamedIndex{ix.byArch["x86_64"]})
			all, _, err := r.GetPackagesWithDependencies(b.Context(), slices.Concat(targets[0].base, targets[0].packages), map[string][]apk.NamedIndex{"x86_64": {ix.byArch["x86_64"]}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(all)), "installed/op")
		})
	}
}
