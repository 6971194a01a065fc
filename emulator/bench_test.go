package emulator_test

import (
	"fmt"
	"testing"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
)

// BenchmarkUpdateRepo writes one repo at a time through the SDK's client
// in organizations of growing size: with repos indexed by id and by name,
// the cost of a write does not grow with the number of repos.
func BenchmarkUpdateRepo(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			emu, url := emutest.Start(b, emulator.Options{})
			c := dialB(b, url)
			org := emu.CreateOrg("acme.example")
			repos := make([]*registryv1.Repo, n)
			for i := range repos {
				r := customRepo(fmt.Sprintf("repo-%05d", i))
				r.ActiveTags = []string{"latest"}
				repos[i] = emu.CreateRepo(org, r)
			}
			i := 0
			for b.Loop() {
				r := repos[i%n]
				r.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"N": fmt.Sprint(i)}}
				if _, err := c.Registry().Registry().UpdateRepo(b.Context(), r); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkListRepos lists every repo of an organization, the daemon's one
// call per cycle.
func BenchmarkListRepos(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			emu, url := emutest.Start(b, emulator.Options{})
			c := dialB(b, url)
			org := emu.CreateOrg("acme.example")
			for i := range n {
				emu.CreateRepo(org, customRepo(fmt.Sprintf("repo-%05d", i)))
			}
			for b.Loop() {
				l, err := c.Registry().Registry().ListRepos(b.Context(), &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
				if err != nil || len(l.GetItems()) != n {
					b.Fatalf("ListRepos: %d repos, %v", len(l.GetItems()), err)
				}
			}
		})
	}
}

// BenchmarkBuildResolve is the emulator's cost of one build (one tag, two
// architectures) of an overlay of 3 packages on 2 base packages, against
// an index of 5,000 packages on both architectures, resolved with apko.
func BenchmarkBuildResolve(b *testing.B) {
	for _, oneArchOnly := range []bool{false, true} {
		b.Run(fmt.Sprintf("arch-specific-package=%v", oneArchOnly), func(b *testing.B) {
			emu := emulator.New(emulator.Options{BuildDuration: 1})
			b.Cleanup(emu.Close)
			org := emu.CreateOrg("acme.example")
			pkgs := make([]emulator.Package, 5000)
			for i := range pkgs {
				pkgs[i] = emulator.Package{Name: fmt.Sprintf("pkg-%04d", i), Version: "1.2.3-r0", Depends: []string{fmt.Sprintf("pkg-%04d", (i+1)%5000)}}
			}
			pkgs[4999].Depends = nil
			if oneArchOnly {
				pkgs = append(pkgs, emulator.Package{Name: "x86-only", Archs: []string{emulator.ArchX86_64}})
			}
			if err := emu.SetCatalogPackages(org, pkgs); err != nil {
				b.Fatal(err)
			}
			r := customRepo("nginx")
			r.ActiveTags = []string{"latest"}
			id := emu.CreateRepo(org, r).GetId()
			if err := emu.SetBaseImage(id, []string{"pkg-4990", "pkg-4995"}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"pkg-4980", "pkg-4985", "pkg-4998"}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
