// Package testbin builds the real ca-reconciler binary for the deploy tests,
// the way .ko.yaml builds it: CGO_ENABLED=0, -trimpath,
// version stamped with -ldflags "-X main.version=...".
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/tools"
)

// RepoRoot returns the repository's root: the parent of the deploy
// module's folder, which holds the daemon's module (go.mod) and every path
// the tests name (deploy/..., examples/..., cmd/ca-reconciler).
func RepoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the ca-reconciler deploy module")
	}
	root := filepath.Dir(filepath.Dir(gomod))
	if _, err := os.Stat(filepath.Join(root, "cmd", "ca-reconciler")); err != nil {
		t.Fatalf("%s is not the ca-reconciler repository: %v", root, err)
	}
	return root
}

// Build compiles ./cmd/ca-reconciler into a temporary directory with version
// stamped into main.version and returns the binary's path.
func Build(t testing.TB, version string) string {
	t.Helper()
	return BuildPackage(t, "./cmd/ca-reconciler", version)
}

// BuildPackage compiles a main package of the daemon's module the same way.
func BuildPackage(t testing.TB, pkg, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", bin, pkg)
	cmd.Dir = RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// CI reports whether the tests run in CI (CI=true), where a missing tool is
// a failure rather than a skip.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// NeedTool returns the path of a command line tool (tools.Look), skipping
// the test when it is missing outside CI and failing it in CI.
func NeedTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := tools.Look(name)
	if err == nil {
		return p
	}
	if CI() {
		t.Fatalf("%v and CI=true: %s", err, install)
	}
	t.Skipf("%v (%s); with CI=true this fails", err, install)
	return ""
}
