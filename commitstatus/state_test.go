package commitstatus

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecide(t *testing.T) {
	many := func(n int, p Problem) []Repo {
		var out []Repo
		for i := range n {
			out = append(out, Repo{Name: fmt.Sprintf("repository-with-a-long-name-%02d", i), Problem: p})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		repos []Repo
		want  Status
	}{
		{"nothing changed", nil, Status{StateSuccess, "in sync: nothing to write"}},
		{"in-sync entries", []Repo{{Name: "a"}}, Status{StateSuccess, "in sync: nothing to write"}},
		{"write to do", []Repo{{Name: "a", Drifted: true}}, Status{StatePending, "1 repo to write"}},
		{"written, no build seen yet", []Repo{{Name: "a", Drifted: true, Written: true, Building: true}}, Status{StatePending, "1 repo building"}},
		{"written, builds still followed", []Repo{{Name: "a", Drifted: true, Written: true, Building: true, Builds: []BuildResult{BuildSuccess}}}, Status{StatePending, "1 repo building"}},
		{"written, no build ever started", []Repo{{Name: "a", Drifted: true, Written: true}}, Status{StateSuccess, "1 repo written, 0 builds succeeded"}},
		{"build running", []Repo{{Name: "a", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess, BuildPending}}}, Status{StatePending, "1 repo building"}},
		{"both pending kinds", []Repo{
			{Name: "a", Drifted: true},
			{Name: "b", Drifted: true},
			{Name: "c", Drifted: true, Written: true, Builds: []BuildResult{BuildPending}},
		}, Status{StatePending, "2 repos to write, 1 repo building"}},
		{"every build succeeded", []Repo{
			{Name: "a", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess, BuildSuccess}},
			{Name: "b", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}},
		}, Status{StateSuccess, "2 repos written, 3 builds succeeded"}},
		{"one written", []Repo{{Name: "a", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}}},
			Status{StateSuccess, "1 repo written, 1 build succeeded"}},
		{"build failed while another runs", []Repo{
			{Name: "b", Drifted: true, Written: true, Builds: []BuildResult{BuildPending}},
			{Name: "a", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess, BuildFailure}},
		}, Status{StateFailure, "failed: a (build failed)"}},
		{"build timed out", []Repo{{Name: "a", Drifted: true, Written: true, Builds: []BuildResult{BuildTimeout}}},
			Status{StateFailure, "failed: a (build timed out)"}},
		{"every problem, sorted by repo", []Repo{
			{Name: "stall", Problem: ProblemStalled, Drifted: true},
			{Name: "bad", Problem: ProblemInvalid},
			{Name: "gone", Problem: ProblemMissing},
			{Name: "write", Problem: ProblemWriteFailed, Drifted: true},
			{Name: "ok", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}},
		}, Status{StateFailure, "failed: bad (invalid file), gone (missing repo), stall (stalled), write (write failed)"}},
		{"a problem beats a failed build of the same repo", []Repo{
			{Name: "a", Problem: ProblemWriteFailed, Builds: []BuildResult{BuildFailure}},
		}, Status{StateFailure, "failed: a (write failed)"}},
		{"a revision that only created repos: building", []Repo{
			{Name: "custom-node", Drifted: true, Written: true, Building: true},
			{Name: "custom-python", Drifted: true, Written: true, Builds: []BuildResult{BuildPending}},
		}, Status{StatePending, "2 repos building"}},
		{"a revision that only created repos: built", []Repo{
			{Name: "custom-node", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}},
			{Name: "custom-python", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess, BuildSuccess}},
		}, Status{StateSuccess, "2 repos written, 3 builds succeeded"}},
		{"a create not done yet (detect mode)", []Repo{{Name: "custom-node", Drifted: true}}, Status{StatePending, "1 repo to write"}},
		{"a create refused by the service", []Repo{
			{Name: "custom-node", Problem: ProblemCreateRefused},
			{Name: "web", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}},
		}, Status{StateFailure, "failed: custom-node (create refused)"}},
		{"a create refused wins over its builds elsewhere still running", []Repo{
			{Name: "denied", Problem: ProblemCreateRefused},
			{Name: "custom-node", Drifted: true, Written: true, Building: true},
		}, Status{StateFailure, "failed: denied (create refused)"}},
		{"prunes refused by a guard", []Repo{
			{Name: "old-b", Problem: ProblemPruneRefused, Drifted: true},
			{Name: "old-a", Problem: ProblemPruneRefused, Drifted: true},
		}, Status{StateFailure, "failed: old-a (prune refused), old-b (prune refused)"}},
		{"a pruned repo building, then built", []Repo{{Name: "old", Drifted: true, Written: true, Builds: []BuildResult{BuildSuccess}}},
			Status{StateSuccess, "1 repo written, 1 build succeeded"}},
		{"an invalid settings file first, the repos it holds back last", []Repo{
			{Name: "aaa", Problem: ProblemHeld, Drifted: true},
			{Name: "ca-images-iac/.ca-reconciler.yaml", Problem: ProblemInvalid},
			{Name: "zzz", Problem: ProblemInvalid},
			{Name: "bbb", Problem: ProblemHeld, Drifted: true},
		}, Status{StateFailure, "failed: ca-images-iac/.ca-reconciler.yaml (invalid file), zzz (invalid file), aaa (held back), bbb (held back)"}},
		{"held repos are cut before the cause", append([]Repo{{Name: "ca-images-iac/.ca-reconciler.yaml", Problem: ProblemInvalid}}, many(6, ProblemHeld)...),
			Status{StateFailure, "failed: ca-images-iac/.ca-reconciler.yaml (invalid file), repository-with-a-long-name-00 (held back), and 5 more"}},
		{"too many to name", many(6, ProblemInvalid), Status{StateFailure,
			"failed: repository-with-a-long-name-00 (invalid file), repository-with-a-long-name-01 (invalid file), and 4 more"}},
		{"one name too long", []Repo{{Name: strings.Repeat("n", 300), Problem: ProblemInvalid}, {Name: "z", Problem: ProblemInvalid}},
			Status{StateFailure, "failed: " + strings.Repeat("n", 119) + "…, and 1 more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.repos)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if n := utf8.RuneCountInString(got.Description); n > MaxDescription {
				t.Errorf("description is %d characters, over %d", n, MaxDescription)
			}
		})
	}
}

func TestRepoFromGitURL(t *testing.T) {
	for _, tc := range []struct {
		provider Provider
		url      string
		want     string
		err      string
	}{
		{GitHub, "https://github.com/acme/images-config.git", "acme/images-config", ""},
		{GitHub, "https://github.com/acme/images-config", "acme/images-config", ""},
		{GitHub, "https://robot:s3cret@github.com/acme/images-config.git/", "acme/images-config", ""},
		{GitHub, "ssh://git@github.com/acme/images-config.git", "acme/images-config", ""},
		{GitHub, "ssh://git@github.example.com:2222/acme/images-config.git", "acme/images-config", ""},
		{GitHub, "git@github.com:acme/images-config.git", "acme/images-config", ""},
		{GitLab, "https://gitlab.com/acme/platform/images-config.git", "acme/platform/images-config", ""},
		{GitLab, "git@gitlab.example.com:acme/images-config.git", "acme/images-config", ""},
		{GitHub, "https://github.com/acme/platform/images-config.git", "",
			`deriving the commit status repo from the Git URL: path "acme/platform/images-config" is not owner/repo; set --commit-status-repo`},
		{GitLab, "https://gitlab.com/images-config.git", "",
			`deriving the commit status repo from the Git URL: path "images-config" is not group/project; set --commit-status-repo`},
		{GitHub, "file:///srv/git/config.git", "",
			`deriving the commit status repo from the Git URL: scheme "file" is not a hosted repository; set --commit-status-repo`},
		{GitHub, "/srv/git/config", "", "deriving the commit status repo from the Git URL: not a hosted repository URL; set --commit-status-repo"},
		{GitHub, "https://github.com/acme/../x", "",
			`deriving the commit status repo from the Git URL: path "acme/../x" is not a repository; set --commit-status-repo`},
		{GitHub, "https://user:pa ss@github.com/a/b", "", `deriving the commit status repo from the Git URL: net/url: invalid userinfo`},
	} {
		got, err := RepoFromGitURL(tc.provider, tc.url)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("RepoFromGitURL(%s, %q) = %q, %q; want %q, %q", tc.provider, tc.url, got, gotErr, tc.want, tc.err)
		}
		if strings.Contains(gotErr, "s3cret") || strings.Contains(gotErr, "pa ss") {
			t.Errorf("error shows the password: %s", gotErr)
		}
	}
}

func TestParseProvider(t *testing.T) {
	if p, err := ParseProvider("gitlab"); p != GitLab || err != nil {
		t.Errorf("gitlab: %v %v", p, err)
	}
	if _, err := ParseProvider("bitbucket"); err == nil || err.Error() != `unknown commit status provider "bitbucket" (want github or gitlab)` {
		t.Errorf("bitbucket: %v", err)
	}
}
