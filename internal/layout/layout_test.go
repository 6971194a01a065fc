package layout_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/ca-reconciler/ca-reconciler"

// packages lists the package folders of the module in dir (relative to the
// repository root).
func packages(t *testing.T, root, dir string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}", "./...")
	cmd.Dir = filepath.Join(root, dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... in %q: %v", dir, err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
		if rel == "" {
			rel = "."
		}
		pkgs = append(pkgs, rel)
	}
	return pkgs
}

// TestREADMEListsEveryPackage holds README.md's package map (the table in
// "Development") to the packages of both modules: every package is listed
// once with its role, and nothing listed is gone.
func TestREADMEListsEveryPackage(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, dev, ok := strings.Cut(string(data), "\n## Development\n")
	if !ok {
		t.Fatal("README.md has no ## Development section")
	}
	dev, _, _ = strings.Cut(dev, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9./-]+)` \\| (.*) \\|$")
	var listed []string
	for _, m := range row.FindAllStringSubmatch(dev, -1) {
		listed = append(listed, m[1])
		if strings.TrimSpace(m[2]) == "" {
			t.Errorf("README.md package map: %s has no role", m[1])
		}
	}
	want := append(packages(t, root, "."), packages(t, root, "deploy")...)
	sort.Strings(want)
	sort.Strings(listed)
	if d := cmp.Diff(want, listed); d != "" {
		t.Errorf("README.md's package map (Development) differs from the packages (-exist +listed):\n%s", d)
	}
}

// TestTestenvOnlyInTests holds internal/testenv and internal/vocabgen to
// tests: no package's non-test code imports them (or testenv's
// subpackages), and testenv itself imports
// no package of this module, so that any package's tests may import it
// (the emulator's included).
func TestTestenvOnlyInTests(t *testing.T) {
	root := filepath.Join("..", "..")
	testenv := module + "/internal/testenv"
	testsOnly := func(imp string) bool {
		return imp == testenv || strings.HasPrefix(imp, testenv+"/") || imp == module+"/internal/vocabgen"
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		if testsOnly(pkg) {
			continue
		}
		for _, imp := range imports {
			if testsOnly(imp) {
				t.Errorf("%s imports %s outside its tests", pkg, imp)
			}
		}
	}
	cmd = exec.Command("go", "list", "-deps", "./internal/testenv")
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./internal/testenv: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, module+"/") && dep != testenv {
			t.Errorf("internal/testenv depends on %s; it is to depend on the SDK and the standard library only", dep)
		}
	}
}
