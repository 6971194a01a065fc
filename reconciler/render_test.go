package reconciler

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

//go:generate go test -count=1 -run ^TestWritePlan$ . -update

// warningsOf parses a file that has warnings and returns its overlay,
// warnings and errors (nil when it has none).
func warningsOf(t *testing.T, file, data string) (overlay.Overlay, overlay.Problems, error) {
	t.Helper()
	p, err := overlay.ParseFile(file, []byte(data))
	if len(p.Warnings) == 0 {
		t.Fatalf("%s has no warnings", file)
	}
	return p.Overlay, p.Warnings, err
}

// The text, JSON and Markdown plans show a file's warnings and the unknown
// fields a live overlay holds, beside its diff or its errors (golden files
// in testdata/plan; -update rewrites them).
func TestWritePlan(t *testing.T) {
	bob, bobWarnings, _ := warningsOf(t, "ca-images-iac/web.yaml", "contents:\n  packages: [curl]\naccounts:\n  run-as: bob\n")
	_, quietWarnings, _ := warningsOf(t, "ca-images-iac/quiet.yaml", "accounts:\n  run-as: \"app:staff\"\n")
	_, badWarnings, badErr := warningsOf(t, "ca-images-iac/bad.yaml", "environment:\n  CHAINGUARD_X: y\naccounts:\n  run-as: eve\n")
	noop := Change{Repo: "node", File: "ca-images-iac/node.yaml", Action: vocab.ActionNoop, UnknownFields: 2}
	web := updateChange("web", "ca-images-iac/web.yaml", overlay.Overlay{}, bob)
	web.Warnings, web.UnknownFields = bobWarnings, 1
	bad := Change{Repo: "bad", File: "ca-images-iac/bad.yaml", Action: vocab.ActionInvalid, Warnings: badWarnings, Err: badErr}
	quiet := Change{Repo: "quiet", File: "ca-images-iac/quiet.yaml", Action: vocab.ActionNoop, Warnings: quietWarnings}
	orphan := Change{Repo: "old", Action: vocab.ActionOrphan, UnknownFields: 3}
	missing := Change{Repo: "ghost", File: "ca-images-iac/ghost.yaml", Action: vocab.ActionMissing, Err: errors.New(`ca-images-iac/ghost.yaml: repo "ghost" does not exist in the organization: not found`)}
	plan := Plan{Revision: "0123456789abcdef0123456789abcdef01234567", Changes: []Change{bad, missing, noop, orphan, quiet, web}}

	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"notes.txt", func(b *bytes.Buffer) error { return plan.WriteText(b) }},
		{"notes.json", func(b *bytes.Buffer) error { return plan.WriteJSON(b) }},
		{"notes.md", func(b *bytes.Buffer) error { return plan.WriteMarkdown(b, MarkdownOptions{Org: "acme.com"}) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "plan", tc.file)
			if *updateMarkdown {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go generate ./reconciler to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
