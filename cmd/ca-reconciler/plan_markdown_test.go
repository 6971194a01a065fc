package main

import (
	"strings"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

// TestPlanMarkdown runs `plan -o markdown` against the emulator and a real
// Git repository: the output is the Markdown plan (the golden tests in
// package reconciler check its exact form) and the exit codes are plan's.
func TestPlanMarkdown(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	code, out, errOut := f.run("plan", "-o", "markdown")
	if code != 0 || !strings.HasPrefix(out, reconciler.MarkdownMarker+"\n") || !strings.Contains(out, "<b>In sync: nothing to write.</b>") {
		t.Fatalf("in sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := f.emu.ConsoleEdit(f.repoID("a"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "jq"}})); err != nil {
		t.Fatal(err)
	}
	code, out, _ = f.run("plan", "-o", "markdown")
	want := "<details><summary><b>update</b> <code>a</code> from <code>ca-images-iac/a.yaml</code>: 1 change</summary>\n\n```diff\n- package jq\n```\n\n</details>\n"
	if code != 2 || !strings.Contains(out, want) || !strings.Contains(out, "organization <code>acme.example</code>") {
		t.Errorf("drift: exit %d\n%s", code, out)
	}
	f.commit(map[string]string{"ca-images-iac/b.yaml": "environment:\n  CHAINGUARD_X: y\n"})
	f.repo("b", overlay.Overlay{})
	code, out, _ = f.run("plan", "-o", "markdown")
	if code != 1 || !strings.Contains(out, "```text\nca-images-iac/b.yaml:2:3: environment.CHAINGUARD_X") {
		t.Errorf("invalid: exit %d\n%s", code, out)
	}
}
