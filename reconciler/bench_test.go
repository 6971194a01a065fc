package reconciler

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func benchFiles(n int) fstest.MapFS {
	s := fstest.MapFS{}
	for i := 0; i < n; i++ {
		s[fmt.Sprintf("repo-%04d.yaml", i)] = &fstest.MapFile{
			Data: []byte(fmt.Sprintf("contents:\n  packages: [curl, jq, wget]\nenvironment:\n  APP_ENV: production\n  N: %q\nannotations:\n  com.example.team: t%d\naccounts:\n  run-as: app\n  users:\n    - {username: app, uid: 1000, gid: 1000}\n", fmt.Sprint(i), i)),
		}
	}
	return s
}

// BenchmarkMapFiles parses and maps 1000 files: the work a new revision
// costs, and that an unchanged revision skips.
func BenchmarkMapFiles(b *testing.B) {
	snap := benchFiles(1000)
	b.ReportAllocs()
	for b.Loop() {
		MapFiles("ca-images-iac", snap)
	}
}

// BenchmarkCompute plans 1000 repos, 10 of them drifted: the work every
// cycle does.
func BenchmarkCompute(b *testing.B) {
	desired := MapFiles("ca-images-iac", benchFiles(1000))
	live := make([]chainguard.Repo, 0, 1000)
	i := 0
	for name, d := range desired.Repos {
		o := d.Overlay
		if i%100 == 0 {
			o = overlay.Overlay{Packages: []string{"curl"}}
		}
		live = append(live, chainguard.Repo{ID: fmt.Sprintf("org/%d", i), Name: name, CustomAssembly: true, Overlay: o})
		i++
	}
	b.ReportAllocs()
	for b.Loop() {
		p := Compute(desired, live, nil)
		if !p.HasChanges() {
			b.Fatal("no drift")
		}
	}
}

// BenchmarkComputeIdle plans 1000 repos in sync with the live hashes
// reused from the previous cycle: the planning an idle cycle does.
func BenchmarkComputeIdle(b *testing.B) {
	desired := MapFiles("ca-images-iac", benchFiles(1000))
	live := make([]chainguard.Repo, 0, 1000)
	for i, name := range desired.sortedNames() {
		live = append(live, chainguard.Repo{ID: fmt.Sprintf("org/%d", i), Name: name, CustomAssembly: true, Overlay: desired.Repos[name].Overlay})
	}
	hashes := newLiveHashes()
	hashes.hashes(live)
	b.ReportAllocs()
	for b.Loop() {
		p := compute(desired, live, hashes.hashes(live), nil)
		if p.HasChanges() || hashes.hashed != 0 {
			b.Fatal("not idle")
		}
	}
}
