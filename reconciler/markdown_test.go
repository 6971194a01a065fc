package reconciler

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

//go:generate go test -count=1 -run ^TestWriteMarkdown$ . -update

var updateMarkdown = flag.Bool("update", false, "rewrite the golden files under testdata/markdown, testdata/plan and testdata/lifecycle (review every change)")

// checkGolden compares got with the golden file, or writes it there with
// -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	testenv.Golden(t, golden, got, *updateMarkdown)
}

// update builds an update change from live to desired.
func updateChange(repo, file string, live, desired overlay.Overlay) Change {
	return Change{Repo: repo, RepoID: "id-" + repo, File: file, Action: vocab.ActionUpdate, Live: live, Desired: desired, Diff: overlay.Diff(live, desired)}
}

func parseProblems(t *testing.T, file, data string) error {
	t.Helper()
	_, err := overlay.Parse(file, []byte(data))
	if err == nil {
		t.Fatalf("%s parsed without problems", file)
	}
	return err
}

func TestWriteMarkdown(t *testing.T) {
	long := strings.Repeat("x", 3000)
	hostileRepo := "a`b|c<d>e</details>f\n\ng*h*_i_[j](k)&amp;"
	for _, tc := range []struct {
		name string
		plan Plan
		opts MarkdownOptions
	}{
		{
			name: "in-sync",
			plan: Plan{Revision: "0123456789abcdef0123456789abcdef01234567", Changes: []Change{
				{Repo: "node", File: "ca-images-iac/node.yaml", Action: vocab.ActionNoop},
				{Repo: "python", File: "ca-images-iac/python.yaml", Action: vocab.ActionNoop},
			}},
			opts: MarkdownOptions{Org: "acme.com"},
		},
		{
			name: "mixed",
			plan: Plan{Revision: "0123456789abcdef0123456789abcdef01234567", Changes: []Change{
				{Repo: "bad", File: "ca-images-iac/bad.yaml", Action: vocab.ActionInvalid,
					Err: parseProblems(t, "ca-images-iac/bad.yaml", "environment:\n  CHAINGUARD_X: y\nentrypoint: {command: /bin/sh}\n")},
				{Repo: "dup", File: "ca-images-iac/dup.yaml", Action: vocab.ActionInvalid,
					Err: errors.New(`files ca-images-iac/dup.yaml, ca-images-iac/dup.yml all manage repo "dup"; none of them is applied`)},
				{Repo: "ghost", File: "ca-images-iac/ghost.yaml", Action: vocab.ActionMissing,
					Err: errors.New(`ca-images-iac/ghost.yaml: repo "ghost" does not exist in the organization: not found`)},
				{Repo: "jdk", File: "ca-images-iac/jdk.yaml", Action: vocab.ActionReset, Live: overlay.Overlay{Packages: []string{"maven"}},
					Diff: overlay.Diff(overlay.Overlay{Packages: []string{"maven"}}, overlay.Overlay{})},
				updateChange("nginx", "ca-images-iac/nginx.yaml",
					overlay.Overlay{Environment: map[string]string{"LOG_LEVEL": "info"}},
					overlay.Overlay{Packages: []string{"curl", "jq"}, Environment: map[string]string{"LOG_LEVEL": "debug"}}),
				{Repo: "node", File: "ca-images-iac/node.yaml", Action: vocab.ActionNoop},
				{Repo: "old", Action: vocab.ActionOrphan},
				{Repo: "older", Action: vocab.ActionOrphan},
			}},
			opts: MarkdownOptions{Org: "acme.com", Checks: []Check{
				{Repo: "nginx", Name: "packages", Passed: true},
				{Repo: "node", Name: "packages", Passed: false, Details: []string{`package "nodejs-99" not found for aarch64`, `package "nodejs-99" not found for x86_64`}},
			}},
		},
		{
			name: "stalled",
			plan: Plan{Revision: "r2", Changes: []Change{
				func() Change {
					c := updateChange("python", "ca-images-iac/python.yml", overlay.Overlay{}, overlay.Overlay{Packages: []string{"curl"}})
					c.Stalled = true
					return c
				}(),
			}},
		},
		{
			// Names, values and messages that would break Markdown or
			// HTML: backticks (also longer runs than a fence), pipes, <,
			// </details>, blank lines, bidirectional overrides, NUL,
			// invalid UTF-8, and values too long for a comment.
			name: "hostile",
			plan: Plan{Revision: "<b>rev</b>", Changes: []Change{
				updateChange(hostileRepo, "ca-images-iac/"+hostileRepo+".yaml",
					overlay.Overlay{},
					overlay.Overlay{
						Packages: []string{"curl````", "\u202egnp.exe"},
						Environment: map[string]string{
							"LONG": long,
							"HTML": "</details><script>alert(1)</script>",
						},
						Annotations: map[string]string{"com.example/x": "a\n\n```\n</details>\nb\x00\xff"},
					}),
				{Repo: "`````", File: "ca-images-iac/`````.yaml", Action: vocab.ActionInvalid, Err: overlay.Problems{
					{File: "ca-images-iac/`````.yaml", Line: 1, Column: 1, Field: "environment.A|B", Message: "```` breaks </details>\n\n# heading"},
				}},
			}},
			opts: MarkdownOptions{Org: "<org> & `co`", Checks: []Check{
				{Repo: "`````", Name: "<packages>", Passed: false, Details: []string{"````\n</details>", long}},
			}},
		},
		{
			// A plan too long for one comment: the sections that do not
			// fit are counted, and the output stays within the limit.
			name: "limit",
			plan: func() Plan {
				p := Plan{Revision: "r3"}
				for i := range 20 {
					p.Changes = append(p.Changes, updateChange(fmt.Sprintf("repo%02d", i), fmt.Sprintf("ca-images-iac/repo%02d.yaml", i),
						overlay.Overlay{}, overlay.Overlay{Packages: []string{"curl", "jq", "git"}}))
				}
				return p
			}(),
			opts: MarkdownOptions{Limit: 2000},
		},
		{
			// One repo with more diff lines than a section shows.
			name: "many-lines",
			plan: func() Plan {
				var pkgs []string
				for i := range markdownMaxLines + 5 {
					pkgs = append(pkgs, fmt.Sprintf("pkg%03d", i))
				}
				return Plan{Changes: []Change{updateChange("big", "ca-images-iac/big.yaml", overlay.Overlay{}, overlay.Overlay{Packages: pkgs})}}
			}(),
			opts: MarkdownOptions{Org: "acme.com"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := tc.plan.WriteMarkdown(&b, tc.opts); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			limit := tc.opts.Limit
			if limit == 0 {
				limit = DefaultMarkdownLimit
			}
			if len(got) > limit {
				t.Errorf("wrote %d bytes, over the limit %d", len(got), limit)
			}
			checkMarkdownStructure(t, got)
			checkGolden(t, filepath.Join("testdata", "markdown", tc.name+".md"), got)
		})
	}
}

// checkMarkdownStructure checks what no input may break: the marker first;
// every <details> closed by its own </details> line, outside code; every
// code fence closed; no raw <, >, NUL or invalid UTF-8 in HTML lines, and no
// line of an HTML block that a value could have split.
func checkMarkdownStructure(t *testing.T, md string) {
	t.Helper()
	if !strings.HasPrefix(md, MarkdownMarker+"\n") {
		t.Errorf("does not start with the marker line")
	}
	if !strings.HasSuffix(md, "\n") {
		t.Errorf("does not end with a newline")
	}
	fence := ""
	open := 0
	for i, line := range strings.Split(strings.TrimSuffix(md, "\n"), "\n") {
		if strings.ContainsAny(line, "\x00\r") || !utf8.ValidString(line) {
			t.Errorf("line %d has a raw control character or invalid UTF-8: %q", i+1, line)
		}
		if fence != "" {
			if line == fence {
				fence = ""
			} else if tr := strings.TrimSpace(line); len(tr) >= len(fence) && strings.Trim(tr, "`") == "" {
				t.Errorf("line %d would close the %s block early: %q", i+1, fence, line)
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "```"):
			fence = strings.TrimRight(line, "abcdefghijklmnopqrstuvwxyz")
		case strings.HasPrefix(line, "<details>"):
			open++
			if open > 1 {
				t.Errorf("line %d: nested <details>", i+1)
			}
			checkHTMLLine(t, i+1, strings.TrimPrefix(line, "<details>"))
		case line == "</details>":
			open--
			if open < 0 {
				t.Errorf("line %d: </details> without <details>", i+1)
			}
		case strings.HasPrefix(line, "<p>"):
			checkHTMLLine(t, i+1, line)
		}
	}
	if fence != "" {
		t.Errorf("code fence %s never closed", fence)
	}
	if open != 0 {
		t.Errorf("%d <details> never closed", open)
	}
}

// checkHTMLLine checks that a raw HTML line holds only the tags the writer
// itself emits.
func checkHTMLLine(t *testing.T, n int, line string) {
	t.Helper()
	rest := line
	for _, tag := range []string{"<summary>", "</summary>", "<b>", "</b>", "<code>", "</code>", "<p>", "</p>", "<i>", "</i>"} {
		rest = strings.ReplaceAll(rest, tag, "")
	}
	if strings.ContainsAny(rest, "<>") {
		t.Errorf("line %d has markup that the writer did not emit: %q", n, line)
	}
}
