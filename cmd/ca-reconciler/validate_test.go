package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate prints exactly the overlay package's golden problem lines for
// every bad input, one line per problem, and exits 1; good inputs pass.
func TestValidateBadInputs(t *testing.T) {
	files, err := filepath.Glob("../../overlay/testdata/bad/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 bad inputs, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			golden, err := os.ReadFile(f + ".err")
			if err != nil {
				t.Fatal(err)
			}
			// The goldens name files relative to the overlay package.
			want := strings.ReplaceAll(string(golden), "testdata/bad/", "../../overlay/testdata/bad/")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"validate", f}, &stdout, &stderr, func(string) (string, bool) { return "", false })
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stdout.String() != want {
				t.Errorf("validate printed:\n%s\nwant:\n%s", stdout.String(), want)
			}
		})
	}
}

func TestValidateFolders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	nope := func(string) (string, bool) { return "", false }
	if code := run(context.Background(), []string{"validate", "../../overlay/testdata/good", "../../examples/ca-images-iac"}, &stdout, &stderr, nope); code != 0 {
		t.Errorf("good folders: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.yaml":   "contents:\n  packages: [curl]\n",
		"a.yml":    "contents:\n  packages: [jq]\n",
		"b.yaml":   "environment:\n  CHAINGUARD_X: y\n",
		"notes.md": "ignored",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	code := run(context.Background(), []string{"validate", dir}, &stdout, &stderr, nope)
	want := "files " + dir + "/a.yaml, " + dir + "/a.yml all manage repo \"a\"; none of them is applied\n" +
		dir + "/b.yaml:2:3: environment.CHAINGUARD_X: key prefix \"CHAINGUARD_\" is reserved\n"
	if code != 1 || stdout.String() != want {
		t.Errorf("exit %d, printed:\n%s\nwant:\n%s", code, stdout.String(), want)
	}
	if code := run(context.Background(), []string{"validate", filepath.Join(dir, "missing")}, &stdout, &stderr, nope); code != 1 {
		t.Errorf("missing path: exit %d", code)
	}
}
