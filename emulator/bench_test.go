package emulator_test

import (
	"fmt"
	"testing"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// BenchmarkUpdateRepo writes one repo at a time through the SDK's client
// in organizations of growing size: with repos indexed by id and by name,
// the cost of a write does not grow with the number of repos.
func BenchmarkUpdateRepo(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			emu := emulator.New(emulator.Options{})
			b.Cleanup(emu.Close)
			url, err := emu.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
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
			emu := emulator.New(emulator.Options{})
			b.Cleanup(emu.Close)
			url, err := emu.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
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
