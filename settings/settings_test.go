package settings

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

const file = "ca-images-iac/.ca-reconciler.yaml"

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]Repo
	}{
		{"empty file", "", map[string]Repo{}},
		{"comments only", "# nothing yet\n", map[string]Repo{}},
		{"null repos", "repos:\n", map[string]Repo{}},
		{"both settings", `repos:
  custom-node:
    source: node        # create from the source image
  nginx:
    suspend: true
  python:
    suspend: false
    source: cgr.dev/chainguard/python
  empty:
`, map[string]Repo{
			"custom-node": {Source: "node", Line: 2, Column: 3, SourceLine: 3, SourceColumn: 13},
			"nginx":       {Suspend: true, Line: 4, Column: 3},
			"python":      {Source: "cgr.dev/chainguard/python", Line: 6, Column: 3, SourceLine: 8, SourceColumn: 13},
			"empty":       {Line: 9, Column: 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(file, []byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, s.Repos); diff != "" {
				t.Errorf("Repos (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown top key", "repo:\n  a: {}\n", []string{
			file + ":1:1: repo: unknown key; the settings file takes only repos"}},
		{"not a mapping", "- a\n", []string{
			file + ":1:1: expected a mapping with the key repos"}},
		{"repos a list", "repos: [a]\n", []string{
			file + ":1:8: repos: expected a mapping of repo name to settings, got a list"}},
		{"unknown repo key and near misses", "repos:\n  a:\n    suspended: true\n    from: node\n    replicas: 2\n", []string{
			file + ":3:5: repos.a.suspended: unknown key; did you mean suspend?",
			file + ":4:5: repos.a.from: unknown key; did you mean source?",
			file + ":5:5: repos.a.replicas: unknown key; a repo takes source and suspend"}},
		{"wrong types", "repos:\n  a:\n    suspend: yes\n  b:\n    source: [node]\n  c:\n    source: 12\n", []string{
			file + `:3:14: repos.a.suspend: expected true or false, got the string "yes"`,
			file + ":5:13: repos.b.source: expected the name or id of a source image, got a list",
			file + ":7:13: repos.c.source: expected the name or id of a source image, got a number"}},
		{"duplicates", "repos:\n  a:\n    suspend: true\n    suspend: false\n  a: {}\n", []string{
			file + ":4:5: repos.a.suspend: duplicate key",
			file + ":5:3: repos.a: duplicate key"}},
		{"bad repo name", "repos:\n  Bad Name:\n    suspend: true\n", []string{
			file + `:2:3: repos.Bad Name: "Bad Name" is not a repo name (lower-case letters, digits, '.', '_', '-' and '/')`}},
		{"aliases and tags", "repos:\n  a: &x\n    suspend: true\n  b: *x\n  c:\n    source: !!binary bm9kZQ==\n", []string{
			file + ":2:6: repos.a: anchors are not allowed in the settings file",
			file + ":4:6: repos.b: aliases are not allowed in the settings file",
			file + ":6:13: repos.c.source: YAML tag !!binary is not allowed in the settings file"}},
		{"two documents", "repos: {}\n---\nrepos: {}\n", []string{
			file + ":2:1: more than one YAML document; the settings file holds exactly one"}},
		{"syntax", "repos:\n  a: [\n", []string{
			file + ":2: syntax error: did not find expected node content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(file, []byte(tc.in))
			var ps overlay.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse error = %v, want overlay.Problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefusesAHugeFileBeforeReadingIt(t *testing.T) {
	data := []byte("repos:\n" + strings.Repeat("  # padding\n", MaxSize/12+1))
	_, err := Parse(file, data)
	want := file + ":1: file is " + strconv.Itoa(len(data)) + " bytes; the settings file may hold at most 262144"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse = %v, want %s", err, want)
	}
}

func TestSourceProblemNamesTheSettingsLine(t *testing.T) {
	s, err := Parse(file, []byte("repos:\n  custom-node:\n    source: nodee\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := s.SourceProblem("custom-node", "source %q does not exist in the organization", "nodee").String()
	want := file + `:3:13: repos.custom-node.source: source "nodee" does not exist in the organization`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if diff := cmp.Diff([]string{"custom-node"}, s.Names()); diff != "" {
		t.Error(diff)
	}
	if (s.Repo("other") != Repo{}) {
		t.Error("a repo without settings has settings")
	}
}
