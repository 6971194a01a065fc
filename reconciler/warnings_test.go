package reconciler

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// MapFiles keeps each file's warnings and the positions of its packages,
// through the parse cache too; warnings never make a file invalid.
func TestMapFilesKeepsWarningsAndPackagePositions(t *testing.T) {
	files := fstest.MapFS{
		"a.yaml":   {Data: []byte("contents:\n  packages:\n    - curl\n    - jq\naccounts:\n  run-as: bob\n")},
		"b.yaml":   {Data: []byte("contents:\n  packages: [curl, jq]\n")},
		"bad.yaml": {Data: []byte("environment:\n  CHAINGUARD_X: y\naccounts:\n  run-as: bob\n")},
	}
	var cache parseCache
	want := map[string]DesiredRepo{
		"a": {Warnings: overlay.Problems{{Severity: overlay.SeverityWarning, File: "ca-images-iac/a.yaml", Line: 6, Column: 11, Field: "accounts.run-as",
			Message: `user "bob" is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it`}},
			PackagePositions: []overlay.Position{{Line: 3, Column: 7}, {Line: 4, Column: 7}}},
		"b": {PackagePositions: []overlay.Position{{Line: 2, Column: 14}, {Line: 2, Column: 20}}},
		"bad": {Warnings: overlay.Problems{{Severity: overlay.SeverityWarning, File: "ca-images-iac/bad.yaml", Line: 4, Column: 11, Field: "accounts.run-as",
			Message: `user "bob" is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it`}}},
	}
	for _, round := range []string{"parsed", "reused"} {
		d := mapFiles("ca-images-iac", &countingFS{MapFS: files}, &cache)
		got := map[string]DesiredRepo{}
		for name, r := range d.Repos {
			got[name] = DesiredRepo{Warnings: r.Warnings, PackagePositions: r.PackagePositions}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: warnings and positions (-want +got):\n%s", round, diff)
		}
		if d.Repos["a"].Err != nil || d.Repos["bad"].Err == nil {
			t.Errorf("%s: a.yaml error %v (want none), bad.yaml error %v (want one)", round, d.Repos["a"].Err, d.Repos["bad"].Err)
		}
		if round == "reused" && d.Reused != 3 {
			t.Errorf("second mapping reused %d files, want 3", d.Reused)
		}
	}
}
