package gitsource

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEverPaths follows one Source through a history: the first Fetch walks
// every commit, later ones only the new commits; deleted files stay known;
// a merge brings in its branch's files; a force-push to an older commit
// forgets what only the dropped commits held; a fresh cache in a new Source
// gives the same answer.
func TestEverPaths(t *testing.T) {
	up, ever := historyUpstream(t, "ca-images-iac", 20, 50)
	runGit(t, up.dir, "reset", "-q", "--hard")
	// Files below the folder, beside it, and before the folder existed do
	// not count.
	up.commit("nested and beside", map[string]string{"ca-images-iac/team/nested.yaml": "n\n", "README.md": "r\n"})
	s, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", History: true})
	snap, _ := fetch(t, s)
	if d := cmp.Diff(ever, snap.EverPaths); d != "" {
		t.Errorf("EverPaths (-want +got):\n%s", d)
	}
	if len(ever) != 20+4 || s.history.walked != 51 {
		t.Errorf("%d paths from %d commits walked, want 24 from 51", len(ever), s.history.walked)
	}

	// A file added and deleted again.
	up.commit("add gone", map[string]string{"ca-images-iac/gone.yaml": "g\n"})
	up.commit("delete gone", map[string]string{"ca-images-iac/gone.yaml": ""})
	snap, _ = fetch(t, s)
	withGone := sortedStrings(append([]string{"gone.yaml"}, ever...))
	if d := cmp.Diff(withGone, snap.EverPaths); d != "" {
		t.Errorf("EverPaths after a deleted file (-want +got):\n%s", d)
	}
	if s.history.walked != 53 {
		t.Errorf("%d commits walked in all, want 2 more", s.history.walked)
	}
	beforeMerge := up.head()

	// A merge of a branch with a file of its own.
	runGit(t, up.dir, "checkout", "-q", "-b", "side", "HEAD~5")
	up.commit("side file", map[string]string{"ca-images-iac/side.yaml": "s\n"})
	runGit(t, up.dir, "checkout", "-q", "main")
	up.commit("main file", map[string]string{"ca-images-iac/main.yaml": "m\n"})
	runGit(t, up.dir, "merge", "-q", "--no-edit", "side")
	snap, _ = fetch(t, s)
	merged := sortedStrings(append([]string{"main.yaml", "side.yaml"}, withGone...))
	if d := cmp.Diff(merged, snap.EverPaths); d != "" {
		t.Errorf("EverPaths after a merge (-want +got):\n%s", d)
	}
	if s.history.walked != 56 {
		t.Errorf("%d commits walked in all, want 3 more (side, main, merge)", s.history.walked)
	}

	// A force-push back before the merge.
	runGit(t, up.dir, "reset", "-q", "--hard", beforeMerge)
	snap, _ = fetch(t, s)
	if d := cmp.Diff(withGone, snap.EverPaths); d != "" {
		t.Errorf("EverPaths after a force-push (-want +got):\n%s", d)
	}

	// A new Source with a new cache: recomputed from the clone.
	fresh, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", History: true})
	if snap, _ := fetch(t, fresh); cmp.Diff(withGone, snap.EverPaths) != "" {
		t.Errorf("EverPaths from a fresh cache: %v", snap.EverPaths)
	}

	// Without History there is nothing.
	plain, _ := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac"})
	if snap, _ := fetch(t, plain); snap.EverPaths != nil {
		t.Errorf("EverPaths without History: %v", snap.EverPaths)
	}
}
