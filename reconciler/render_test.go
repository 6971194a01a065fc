package reconciler

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

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
	notes := Plan{Revision: "0123456789abcdef0123456789abcdef01234567", Changes: []Change{bad, missing, noop, orphan, quiet, web}}

	// The package check refused one file of two to write, and could not
	// tell the other's base image; then, without apk.list, it is skipped.
	api := updateChange("api", "ca-images-iac/api.yaml", overlay.Overlay{}, overlay.Overlay{Packages: []string{"jq", "mongo-9.0"}})
	db := updateChange("db", "ca-images-iac/db.yaml", overlay.Overlay{}, overlay.Overlay{Packages: []string{"mongo-8.0"}})
	refused := Refuse(Plan{Revision: notes.Revision, Changes: []Change{api, db, noop}},
		map[string]overlay.Problems{"api": {{File: "ca-images-iac/api.yaml", Line: 4, Column: 7, Field: "contents.packages[1]",
			Message: `"mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)`}}},
		map[string][]string{"db": {"no successful build in the last 24h0m0s tells the base image; the file's packages were checked alone"}})
	refused.PackageCheck = &PackageCheckReport{Status: vocab.PackageCheckChecked, Checked: []string{"api", "db"}, Refused: []string{"api"},
		IndexReadAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	skipped := Plan{Revision: notes.Revision, Changes: []Change{api, db}, PackageCheck: &PackageCheckReport{Status: vocab.PackageCheckSkipped,
		Capability: "apk.list", Checked: []string{"api", "db"},
		Reason: "listing packages needs the apk.list capability: listing packages of c0ffee for x86_64: rpc error: code = PermissionDenied desc = the caller does not have the capability apk.list"}}

	type output struct {
		file  string
		write func(*bytes.Buffer) error
	}
	var outputs []output
	for name, plan := range map[string]Plan{"notes": notes, "check": refused, "check-skipped": skipped} {
		outputs = append(outputs,
			output{name + ".txt", func(b *bytes.Buffer) error { return plan.WriteText(b) }},
			output{name + ".json", func(b *bytes.Buffer) error { return plan.WriteJSON(b) }},
			output{name + ".md", func(b *bytes.Buffer) error {
				return plan.WriteMarkdown(b, MarkdownOptions{Org: "acme.com", Checks: plan.Checks()})
			}})
	}
	for _, tc := range outputs {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "plan", tc.file), b.String())
		})
	}
}
