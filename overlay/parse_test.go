package overlay

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

//go:generate go test -count=1 -run ^TestParse(Good|Bad)$ . -update

var update = flag.Bool("update", false, "rewrite the golden testdata/bad/*.yaml.err and testdata/good/*.yaml.warn files (review every change)")

// testParser checks certificates against a fixed day, so that the goldens
// do not change with the clock.
var testParser = Parser{Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }}

// checkGolden compares got with the golden file, or rewrites it with
// -update; an empty got means no golden file.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	testenv.Golden(t, golden, got, *update)
}

// problemLines renders problems one per line, with a final newline.
func problemLines(ps Problems) string {
	if len(ps) == 0 {
		return ""
	}
	return ps.Error() + "\n"
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func glob(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// pemFile is one of the committed PEM files, as Canonical holds it.
func pemFile(t testing.TB, name string) string {
	t.Helper()
	return string(readFile(t, filepath.Join("testdata", "pem", name)))
}

// checkRoundTrip checks that the parsed overlay o passes Validate and that
// Parse(Marshal(o)) is Canonical(o); it returns Marshal's output and what
// Parse made of it.
func checkRoundTrip(t testing.TB, o Overlay) (out []byte, back Overlay) {
	t.Helper()
	if ps := Validate(o); len(ps) > 0 {
		t.Errorf("Validate rejects a parsed overlay: %v", ps)
	}
	out, err := Marshal(o)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err = Parse("marshaled.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Marshal(o)): %v\n%s", err, out)
	}
	if diff := cmp.Diff(Canonical(o), back); diff != "" {
		t.Errorf("Parse(Marshal(o)) != Canonical(o) (-want +got):\n%s\n%s", diff, out)
	}
	return out, back
}

// parseEach parses every testdata/<kind>/*.yaml file with testParser, each
// in its own subtest, and hands check what Parse returned; there must be at
// least `least` of them.
func parseEach(t *testing.T, kind string, least int, check func(t *testing.T, file string, parsed Parsed, err error)) {
	t.Helper()
	files := glob(t, "testdata/"+kind+"/*.yaml")
	if len(files) < least {
		t.Fatalf("only %d %s files", len(files), kind)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			parsed, err := testParser.ParseFile(file, readFile(t, file))
			check(t, file, parsed, err)
		})
	}
}

// Every good file parses without errors, with exactly the warnings of its
// golden .warn file (none when there is none), passes Validate, and
// round-trips through Marshal/Parse unchanged.
func TestParseGood(t *testing.T) {
	parseEach(t, "good", 8, func(t *testing.T, file string, parsed Parsed, err error) {
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		for _, w := range parsed.Warnings {
			if w.Severity != SeverityWarning || w.File != file || w.Line == 0 {
				t.Errorf("warning %q: severity %v, no file or no line", w, w.Severity)
			}
		}
		checkGolden(t, file+".warn", problemLines(parsed.Warnings))
		out, back := checkRoundTrip(t, parsed.Overlay)
		again, err := Marshal(back)
		if err != nil || !bytes.Equal(out, again) {
			t.Errorf("Marshal is not a fixed point (err %v):\n%s\n---\n%s", err, out, again)
		}
	})
}

func uint32p(v uint32) *uint32 { return &v }

// What some good files mean, exactly.
func TestParseValues(t *testing.T) {
	cert := pemFile(t, "internal-ca.crt")
	for _, tc := range []struct {
		file string
		want Overlay
	}{
		{"packages.yaml", Overlay{Packages: []string{"curl", "jq", "bash"}}},
		{"empty.yaml", Overlay{}},
		{"empty-map.yaml", Overlay{}},
		{"comments-only.yaml", Overlay{}},
		{"null-sections.yaml", Overlay{}},
		{"document-markers.yaml", Overlay{Packages: []string{"curl"}}},
		{"environment.yaml", Overlay{Environment: map[string]string{
			"APP_ENV": "production", "API_URL": "https://api.example.com", "PORT": "3000", "DEBUG": "false",
			"RATIO": "0.5", "CACHE_TTL": "300", "EMPTY": "", "_PRIVATE_1": "x", "MULTILINE": "line one\nline two\n",
		}}},
		{"annotations.yaml", Overlay{Annotations: map[string]string{
			"com.example.team": "platform-team", "com.example.build-timestamp": "2025-10-15T10:30:00Z",
			"com.example.released": "2025-10-15", "org.example/owner": "sre",
			"org.opencontainersx.build": "42", "dev.chainguardian": "guardian", "org.opencontainers": "bare",
		}}},
		{"accounts.yaml", Overlay{Accounts: Accounts{
			RunAs: "appuser",
			Users: []User{
				{UserName: "appuser", UID: 65532, GID: uint32p(65532), HomeDir: "/home/appuser", Shell: "/bin/sh"},
				{UserName: "worker", UID: 1000, GroupName: "workers"},
			},
			Groups: []Group{
				{GroupName: "appgroup", GID: 65532, Members: []string{"appuser"}},
				{GroupName: "workers", GID: 1000, Members: []string{"worker", "appuser"}},
			},
		}}},
		{"run-as-uid.yaml", Overlay{Accounts: Accounts{
			RunAs:  "1000:workers",
			Users:  []User{{UserName: "worker", UID: 1000, GID: uint32p(0)}},
			Groups: []Group{{GroupName: "workers", GID: 1000}},
		}}},
		{"anchors.yaml", Overlay{Packages: []string{"curl", "jq"}, Accounts: Accounts{
			RunAs:  "appuser",
			Users:  []User{{UserName: "appuser", UID: 65532, GID: uint32p(65532)}},
			Groups: []Group{{GroupName: "appgroup", GID: 65532, Members: []string{"appuser"}}},
		}}},
		{"flow.yaml", Overlay{
			Packages:            []string{"curl", "jq"},
			RuntimeRepositories: []string{"https://apk.example.com/x"},
			Environment:         map[string]string{"A": "b", "N": "1"},
			Accounts:            Accounts{RunAs: "root", Users: []User{{UserName: "app", UID: 10001}}},
		}},
		{"runtime.yaml", Overlay{
			RuntimeRepositories: []string{
				"https://apk-mirror.example.com/chainguard", "@extras https://apk.example.org/extras",
				"https://203.0.113.10:8443/apk", "https://user:token@apk.example.net/private",
			},
			RuntimeKeyring: []NamedContent{
				{Name: "key-ee8fa0a3.rsa.pub", Content: pemFile(t, "apk-pkix.rsa.pub")},
			},
		}},
		{"certificates.yaml", Overlay{
			Certificates: []NamedContent{
				{Name: "internal-ca", Content: cert},
				{Name: "partner-ca.pem", Content: "Partner's root, used for the payments API.\nRotates in 2045.\n" + pemFile(t, "partner-ca.crt")},
			},
			CertificateProviders: []string{"ca-certificates-bundle"},
		}},
		// CRLF line ends and trailing spaces survive parsing (the content
		// is what the file says) but compare equal to the clean PEM.
		{"crlf.yaml", Overlay{
			Packages:     []string{"curl"},
			Certificates: []NamedContent{{Name: "internal-ca", Content: strings.Replace(cert, "-----\n", "-----  \t\n", 1)}},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Parse(tc.file, readFile(t, filepath.Join("testdata", "good", tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// Every bad file gives exactly the problems in its golden .err file: its
// errors and warnings, in file order.
func TestParseBad(t *testing.T) {
	parseEach(t, "bad", 35, func(t *testing.T, file string, parsed Parsed, err error) {
		if err == nil {
			t.Fatal("Parse accepted a bad file")
		}
		var ps Problems
		if !errors.As(err, &ps) {
			t.Fatalf("error is %T, want Problems", err)
		}
		for i, p := range ps {
			if p.File != file || p.Line == 0 || p.Severity != SeverityError {
				t.Errorf("problem %q has no file or line, or is not an error", p)
			}
			if i > 0 && (p.Line < ps[i-1].Line || (p.Line == ps[i-1].Line && p.Column < ps[i-1].Column)) {
				t.Errorf("problems not sorted by position: %q after %q", p, ps[i-1])
			}
		}
		checkGolden(t, file+".err", problemLines(append(ps, parsed.Warnings...).Sorted()))
	})
	// No golden without its input.
	for _, golden := range append(glob(t, "testdata/bad/*.err"), glob(t, "testdata/good/*.warn")...) {
		if _, err := os.Stat(strings.TrimSuffix(strings.TrimSuffix(golden, ".err"), ".warn")); err != nil {
			t.Errorf("golden %s has no input", golden)
		}
	}
}

// Positions place every list item, fixed key and map key; the package
// check places its problems with them.
func TestParsePositions(t *testing.T) {
	src := "contents:\n  packages:\n    - curl\n    - mongo-9.0\nenvironment:\n  PORT: \"3000\"\naccounts:\n  users: [{username: app, uid: 10}]\n"
	parsed, err := ParseFile("ca-images-iac/python.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Position{
		"":                           {1, 1},
		"contents":                   {2, 3},
		"contents.packages":          {3, 5},
		"contents.packages[0]":       {3, 7},
		"contents.packages[1]":       {4, 7},
		"environment":                {6, 3},
		"environment.PORT":           {6, 3},
		"accounts":                   {8, 3},
		"accounts.users":             {8, 10},
		"accounts.users[0]":          {8, 11},
		"accounts.users[0].username": {8, 22},
		"accounts.users[0].uid":      {8, 32},
	}
	if diff := cmp.Diff(want, parsed.Positions); diff != "" {
		t.Errorf("Positions (-want +got):\n%s", diff)
	}
}
