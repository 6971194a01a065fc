package gitsource

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// historyUpstream makes a repository with files overlay-like files under dir
// in its first commit and then commits more commits, each changing one file;
// every tenth commit also adds a file and deletes another, so the history
// holds paths the head does not. It is written with git fast-import, in
// well under a second for 5,000 files and 200 commits. It returns the
// upstream and the paths under dir that any commit held.
func historyUpstream(tb testing.TB, dir string, files, commits int) (*upstream, []string) {
	tb.Helper()
	t, _ := tb.(*testing.T)
	u := &upstream{t: t, dir: filepath.Join(tb.TempDir(), "upstream")}
	if out, err := exec.Command("git", "init", "-q", "-b", "main", u.dir).CombinedOutput(); err != nil {
		tb.Fatalf("git init: %v\n%s", err, out)
	}
	var b bytes.Buffer
	ever := map[string]bool{}
	data := func(s string) { fmt.Fprintf(&b, "data %d\n%s\n", len(s), s) }
	file := func(name, content string) {
		ever[name] = true
		fmt.Fprintf(&b, "M 100644 inline %s/%s\n", dir, name)
		data(content)
	}
	when := 1700000000
	commit := func(msg string) {
		when += 60
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Cy Committer <cy@example.com> %d +0000\n", when)
		data(msg)
	}
	commit("initial")
	for i := range files {
		file(fmt.Sprintf("repo-%04d.yaml", i), fmt.Sprintf("contents:\n  packages: [pkg-%d, curl]\n", i))
	}
	for c := 1; c < commits; c++ {
		commit(fmt.Sprintf("change %d", c))
		file(fmt.Sprintf("repo-%04d.yaml", c%files), fmt.Sprintf("contents:\n  packages: [pkg-%d, jq]\n", c))
		if c%10 == 0 {
			file(fmt.Sprintf("added-%d.yaml", c), "contents:\n  packages: [added]\n")
			fmt.Fprintf(&b, "D %s/added-%d.yaml\n", dir, c-10)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = u.dir, gitEnv(), &b
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git fast-import: %v\n%s", err, out)
	}
	paths := make([]string, 0, len(ever))
	for p := range ever {
		paths = append(paths, p)
	}
	return u, sortedStrings(paths)
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
