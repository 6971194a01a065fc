package statuspage_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// The page shows the lifecycle: the settings file (or that it is invalid),
// what pruning decided, a suspended repo with its drift, a refused prune.
func TestPageShowsTheLifecycle(t *testing.T) {
	s := sample()
	s.Settings = &store.SettingsInfo{File: "ca-images-iac/.ca-reconciler.yaml", Valid: true, Repos: 3, Suspended: []string{"frozen"}, Sources: []string{"custom-node"},
		Warnings: []string{"ca-images-iac/.ca-reconciler.yaml:6:3: warning: repos.typo: no file typo.yaml or typo.yml in ca-images-iac names this repo"}}
	s.Prune = &store.PruneInfo{Limit: 2, Candidates: []string{"a", "b", "c"}, Held: vocab.HoldPruneLimit, Reason: "3 repos would be pruned, more than --prune-limit 2: none is pruned"}
	s.Repos = []store.RepoState{
		{Repo: "frozen", File: "ca-images-iac/frozen.yaml", Status: vocab.StatusSuspended, Held: vocab.HoldSuspended, Would: vocab.ActionUpdate,
			Diff: []string{"- package wget"}, DriftSince: at(0)},
		{Repo: "a", File: "ca-images-iac/a.yaml", Status: vocab.StatusDrifted, Held: vocab.HoldPruneLimit, Would: vocab.ActionPrune,
			Diff: []string{"- package curl"}, Error: "pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned"},
		{Repo: "gone", Status: vocab.StatusPruned},
	}
	page, doc := render(t, s)
	noActiveContent(t, doc)
	got := rows(doc)
	want := map[string]string{
		"frozen": "frozen suspended (would update) ca-images-iac/frozen.yaml - / - 2030-01-02 03:04:05 UTC (just now) never none seen | - package wget",
		"a": "a drifted (would prune) refused ca-images-iac/a.yaml - / - - never none seen | " +
			"pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned - package curl",
		"gone": "gone pruned none - / - - never none seen",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repo rows (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		"<dt>Settings</dt><dd><code>ca-images-iac/.ca-reconciler.yaml</code>: 3 repos; suspended: <code>frozen</code>; created from a source: <code>custom-node</code>",
		"<pre>ca-images-iac/.ca-reconciler.yaml:6:3: warning: repos.typo",
		"<dt>Pruning</dt><dd>on, at most 2 repos a cycle; would prune: <code>a</code>, <code>b</code>, <code>c</code> <span class=\"badge bad\">refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned</span>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	s.Settings = &store.SettingsInfo{File: "ca-images-iac/.ca-reconciler.yaml", Errors: []string{"ca-images-iac/.ca-reconciler.yaml:3:5: repos.web.suspended: unknown key; did you mean suspend?"}}
	page, _ = render(t, s)
	if want := `<span class="badge bad">invalid: nothing is written, created or pruned until it is fixed</span><pre class="err">ca-images-iac/.ca-reconciler.yaml:3:5: repos.web.suspended: unknown key; did you mean suspend?`; !strings.Contains(page, want) {
		t.Errorf("the page lacks %s", want)
	}
}
