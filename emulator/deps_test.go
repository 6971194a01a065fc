package emulator_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The emulator stands in for the service, so it must not share the code it
// is used to test: neither it nor its tests may depend on any package of the
// daemon (as go-containerregistry's pkg/registry keeps itself free of the
// client packages). Only the emulator's own packages and internal/ helpers
// of this module may appear among its dependencies.
func TestNoDaemonDependencies(t *testing.T) {
	const module = "github.com/ca-reconciler/ca-reconciler"
	for _, args := range [][]string{
		{"list", "-deps", "."},
		{"list", "-deps", "-test", "."},
	} {
		out, err := exec.CommandContext(t.Context(), "go", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var bad []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			// "PKG" or, for packages recompiled for the test, "PKG [TEST]".
			pkg := strings.TrimSuffix(strings.Fields(line)[0], ".test")
			rel, ours := strings.CutPrefix(pkg, module+"/")
			if !ours {
				continue
			}
			if rel == "emulator" || rel == "emulator_test" || strings.HasPrefix(rel, "emulator/") || strings.HasPrefix(rel, "internal/") {
				continue
			}
			bad = append(bad, pkg)
		}
		if len(bad) > 0 {
			t.Errorf("go %s lists daemon packages:\n%s", strings.Join(args, " "), strings.Join(bad, "\n"))
		}
	}
}
