package packagecheck_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
)

// BenchmarkCheck is one check through the emulator over loopback gRPC: an
// organization of 5,000 packages on each of two architectures (most
// depending on a core of a hundred libraries, as in Wolfi), 1,000 repos
// each with a base of 30 packages from its last successful build, and 1 or
// 1,000 of them about to be written, each adding three packages. "cached"
// uses an index read before; "cold" reads it (28 pages per architecture:
// emulator.SyntheticCatalog(5000), every tenth package in two versions).
func BenchmarkCheck(b *testing.B) {
	emu, url := emutest.Start(b, emulator.Options{BuildDuration: time.Millisecond})
	orgID := emu.CreateOrg("acme.com")
	if err := emu.SetCatalogPackages(orgID, emulator.SyntheticCatalog(5000)); err != nil {
		b.Fatal(err)
	}
	client, err := chainguard.Dial(b.Context(), chainguard.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	base := make([]string, 30)
	for i := range base {
		base[i] = emulator.SyntheticPackage(rng.IntN(5000))
	}
	var repos []packagecheck.Repo
	for i := range 1000 {
		r := emu.CreateRepo(orgID, &registryv1.Repo{Name: fmt.Sprintf("repo-%04d", i), ActiveTags: []string{"latest"}, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
		if err := emu.SetBaseImage(r.GetId(), base); err != nil {
			b.Fatal(err)
		}
		if _, err := client.WriteOverlay(b.Context(), r.GetId(), overlay.Overlay{}); err != nil {
			b.Fatal(err)
		}
		var pkgs []string
		for range 3 {
			pkgs = append(pkgs, emulator.SyntheticPackage(rng.IntN(5000)))
		}
		repos = append(repos, packagecheck.Repo{Name: r.GetName(), ID: r.GetId(), File: r.GetName() + ".yaml", Packages: pkgs})
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		done := 0
		for _, r := range repos {
			if reports := emu.BuildReports(r.ID); len(reports) > 0 && reports[0].GetResult() == registryv1.BuildReport_Success {
				done++
			}
		}
		if done == len(repos) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d first builds finished", done, len(repos))
		}
	}
	org := packagecheck.Org{ID: orgID, Name: "acme.com"}
	for _, n := range []int{1, 1000} {
		for _, cold := range []bool{false, true} {
			name := fmt.Sprintf("repos=%d/cached", n)
			if cold {
				name = fmt.Sprintf("repos=%d/cold", n)
			}
			b.Run(name, func(b *testing.B) {
				checker, err := packagecheck.New(client, packagecheck.Config{})
				if err != nil {
					b.Fatal(err)
				}
				defer checker.Close()
				warm := checker.Check(b.Context(), org, repos[:1])
				if warm.Status != packagecheck.StatusChecked {
					b.Fatalf("warm-up: %+v", warm)
				}
				b.ReportAllocs()
				var res packagecheck.Result
				for b.Loop() {
					if cold {
						b.StopTimer()
						checker.Close()
						checker, _ = packagecheck.New(client, packagecheck.Config{})
						b.StartTimer()
					}
					res = checker.Check(b.Context(), org, repos[:n])
				}
				if res.Status != packagecheck.StatusChecked || len(res.Notes) != 0 {
					b.Fatalf("check: %s %s %v", res.Status, res.Reason, res.Notes)
				}
				b.ReportMetric(float64(res.IndexCalls), "ListAPKs/op")
				b.ReportMetric(float64(res.BuildCalls), "ListBuildReports/op")
				b.ReportMetric(float64(len(res.Problems)), "refused/op")
			})
		}
	}
}
