package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// The package check's world is a seed the emulator takes (a catalog with
// versions, dependencies and provided names; repos with base packages) and
// files that parse without problems, three distinct packages each, drawn
// again every round.
func TestCheckWorld(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	w, entries, err := newCheckWorld(dir, checkOptions{repos: 20, packages: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if entries != 220 {
		t.Errorf("%d catalog entries, want 220 (every tenth package in two versions)", entries)
	}
	seed, err := emulator.LoadSeed(w.seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := emulator.New(emulator.Options{}).ApplySeed(seed); err != nil {
		t.Fatalf("the emulator refuses the seed: %v", err)
	}
	for i := range 20 {
		data, err := os.ReadFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		o, err := overlay.Parse("f.yaml", data)
		if err != nil || len(o.Packages) != 3 {
			t.Errorf("%s: %v, %d packages", repoName(i), err, len(o.Packages))
		}
		if checkFile(i, 0, 200) == checkFile(i, 1, 200) {
			t.Errorf("%s: the same file in rounds 0 and 1", repoName(i))
		}
	}
}

func TestReplaceSection(t *testing.T) {
	section := checkSectionStart + "\nnew\n" + checkSectionEnd + "\n"
	for _, tc := range []struct{ name, report, want string }{
		{"replaces its own", "# B\n\n" + checkSectionStart + "\nold\n" + checkSectionEnd + "\n\n## Profiles\n", "# B\n\n" + section + "\n## Profiles\n"},
		{"before the profiles", "# B\n\n## Scale\n\n## Profiles\n\nx\n", "# B\n\n## Scale\n\n" + section + "\n## Profiles\n\nx\n"},
		{"at the end", "# B\n", "# B\n\n" + section},
		{"an empty report", "", "\n\n" + section},
	} {
		if diff := cmp.Diff(tc.want, replaceSection(tc.report, section)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	// Another section, by its own markers, leaves this one alone.
	console := consoleSectionStart + "\nnew console\n" + consoleSectionEnd + "\n"
	report := "# B\n\n" + section + "\n" + consoleSectionStart + "\nold console\n" + consoleSectionEnd + "\n\n## Profiles\n"
	if diff := cmp.Diff("# B\n\n"+section+"\n"+console+"\n## Profiles\n", replaceSection(report, console)); diff != "" {
		t.Errorf("replacing the console section (-want +got):\n%s", diff)
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tca-reconciler\nVmHWM:\t  131072 kB\nVmRSS:\t   65536 kB\n"
	if got, err := parseStatusKB(status, "VmHWM"); err != nil || got != 128<<20 {
		t.Errorf("VmHWM = %d, %v; want %d", got, err, 128<<20)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil || err.Error() != "no VmSwap in /proc status" {
		t.Errorf("VmSwap: error %v", err)
	}
	if _, err := parseStatusKB("VmHWM:\tlots\n", "VmHWM"); err == nil || !strings.HasPrefix(err.Error(), `VmHWM "\tlots": `) {
		t.Errorf("a bad value: error %v", err)
	}
}
