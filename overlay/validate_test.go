package overlay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func problemStrings(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// ServerRules holds only what the API enforces; Validate adds our lint.
func TestServerRulesAndValidate(t *testing.T) {
	cert := pemFile(t, "internal-ca.crt")
	key := pemFile(t, "apk-pkix.rsa.pub")
	var bigKeyring []NamedContent
	for i := range 130 {
		// White space around the block is allowed, and counts toward the size.
		bigKeyring = append(bigKeyring, NamedContent{Name: fmt.Sprintf("k%03d.rsa.pub", i), Content: strings.Repeat(" ", 4096) + "\n" + key})
	}
	var bigCerts []NamedContent
	for i := range 45 {
		bigCerts = append(bigCerts, NamedContent{Name: fmt.Sprintf("ca-%02d", i), Content: cert})
	}
	for _, tc := range []struct {
		name     string
		o        Overlay
		server   []string // ServerRules
		lintOnly []string // what Validate adds
	}{
		{name: "empty overlay", o: Overlay{}},
		{name: "a plain package", o: Overlay{Packages: []string{"curl"}}},
		{name: "packages are lint only",
			o:        Overlay{Packages: []string{"curl", "curl", " "}},
			lintOnly: []string{`contents.packages[1]: duplicate package "curl"`, "contents.packages[2]: empty package name"}},
		{name: "environment",
			o:        Overlay{Environment: map[string]string{"CHAINGUARD_X": "1", "1X": "2", "OK": "3"}},
			server:   []string{`environment.CHAINGUARD_X: key prefix "CHAINGUARD_" is reserved`},
			lintOnly: []string{"environment.1X: not a valid variable name (want [A-Za-z_][A-Za-z0-9_]*)"}},
		{name: "annotations",
			o: Overlay{Annotations: map[string]string{"org.opencontainers.image.title": "x", "dev.chainguard.x": "y", "com.example": "z"}},
			server: []string{
				`annotations.dev.chainguard.x: key prefix "dev.chainguard." is reserved`,
				`annotations.org.opencontainers.image.title: key prefix "org.opencontainers." is reserved`,
			}},
		{name: "reserved annotation prefixes end in a dot",
			o: Overlay{Annotations: map[string]string{"org.opencontainersx.a": "x", "dev.chainguardian": "y", "org.opencontainers": "z"}}},
		{name: "GUARDED_ is reserved",
			o:      Overlay{Environment: map[string]string{"GUARDED_DISABLE": "1", "GUARDEDX": "2"}},
			server: []string{`environment.GUARDED_DISABLE: key prefix "GUARDED_" is reserved`}},
		{name: "runtime repositories",
			o: Overlay{RuntimeRepositories: []string{"http://localhost/apk", "https://ok.example/x", "https://ok.example/x"}},
			server: []string{
				"contents.runtime_repositories[0]: must be an https URL",
				"contents.runtime_repositories[2]: duplicate repository",
			}},
		{name: "certificates",
			o: Overlay{Certificates: []NamedContent{
				{Name: "ca", Content: "not a certificate"},
				{Name: "my ca", Content: cert},
				{Name: "ca", Content: cert},
				{Content: cert},
			}},
			server: []string{
				"certificates.additional[0].content: no PEM block found",
				"certificates.additional[3].name: required",
			},
			lintOnly: []string{
				`certificates.additional[1].name: not a safe file name (letters, digits, "_", "-" and ".", not starting with ".")`,
				`certificates.additional[2].name: duplicate name "ca"`,
			}},
		{name: "certificates over 50 KB in all", o: Overlay{Certificates: bigCerts},
			server: []string{"certificates.additional: total content size 52740 bytes exceeds the limit of 51200 bytes (50 KB)"}},
		{name: "runtime keyring",
			o: Overlay{RuntimeKeyring: []NamedContent{
				{Name: "wolfi.rsa.pub", Content: key},
				{Name: "a.rsa.pub", Content: key},
				{Name: "a.rsa.pub", Content: key},
				{Name: "my key", Content: key},
				{Name: "b", Content: cert},
			}},
			server: []string{
				`contents.runtime_keyring[0].name: prefix "wolfi" is reserved`,
				`contents.runtime_keyring[2].name: duplicate name "a.rsa.pub"`,
				`contents.runtime_keyring[4].content: PEM block is "CERTIFICATE", want "PUBLIC KEY"`,
			},
			lintOnly: []string{`contents.runtime_keyring[3].name: not a safe file name (letters, digits, "_", "-" and ".")`}},
		{name: "runtime keyring over 512 KB in all", o: Overlay{RuntimeKeyring: bigKeyring},
			server: []string{"contents.runtime_keyring: total content size 591240 bytes exceeds the limit of 524288 bytes (512 KB)"}},
		{name: "accounts are lint only",
			o: Overlay{Accounts: Accounts{RunAs: "ghost", Users: []User{{UserName: "a", UID: 1}, {UserName: "a", UID: 1}}}},
			lintOnly: []string{
				`accounts.users[1].username: duplicate user name "a"`,
				"accounts.users[1].uid: duplicate uid 1",
			}},
		{name: "run-as root is always defined", o: Overlay{Accounts: Accounts{RunAs: "0"}}},
		{name: "run-as root by name", o: Overlay{Accounts: Accounts{RunAs: "root:root"}}},
		{name: "run-as by uid", o: Overlay{Accounts: Accounts{RunAs: "65532", Users: []User{{UserName: "nonroot", UID: 65532}}}}},
		{name: "run-as a base account", o: Overlay{Accounts: Accounts{RunAs: "nonroot"}}},
		{name: "run-as a uid no user has", o: Overlay{Accounts: Accounts{RunAs: "1234:4321"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := ServerRules(tc.o)
			if diff := cmp.Diff(tc.server, problemStrings(server)); diff != "" {
				t.Errorf("ServerRules (-want +got):\n%s", diff)
			}
			all := Validate(tc.o)
			// Validate is a superset: every server problem and the lint
			// problems, in field order.
			want := append(append([]string(nil), tc.server...), tc.lintOnly...)
			if diff := cmp.Diff(want, problemStrings(all), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			for _, p := range all {
				if p.File != "" || p.Line != 0 || p.Column != 0 {
					t.Errorf("problem %q has a position", p)
				}
			}
		})
	}
}

// A file's ServerRules problems are the emulator's, whatever the lint says:
// Parse reports both, each once.
func TestParseReportsServerAndLint(t *testing.T) {
	src := "environment:\n  CHAINGUARD_X: a\n  1X: b\ncontents:\n  packages: [curl, curl]\n"
	_, err := Parse("f.yaml", []byte(src))
	want := []string{
		`f.yaml:2:3: environment.CHAINGUARD_X: key prefix "CHAINGUARD_" is reserved`,
		"f.yaml:3:3: environment.1X: not a valid variable name (want [A-Za-z_][A-Za-z0-9_]*)",
		`f.yaml:5:20: contents.packages[1]: duplicate package "curl"`,
	}
	if diff := cmp.Diff(want, strings.Split(fmt.Sprint(err), "\n")); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Column: 5, Field: "a.b", Message: "m"}, "f.yaml:3:5: a.b: m"},
		{Problem{File: "f.yaml", Line: 3, Message: "syntax error: x"}, "f.yaml:3: syntax error: x"},
		{Problem{File: "f.yaml", Field: "a", Message: "m"}, "f.yaml: a: m"},
		{Problem{Field: "a", Message: "m"}, "a: m"},
		{Problem{Message: "m"}, "m"},
		{Problem{Severity: SeverityWarning, File: "f.yaml", Line: 3, Column: 5, Field: "a.b", Message: "m"}, "f.yaml:3:5: warning: a.b: m"},
		{Problem{Severity: SeverityWarning, Field: "a", Message: "m"}, "warning: a: m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if SeverityError.String() != "error" || SeverityWarning.String() != "warning" {
		t.Errorf("severities are %q and %q", SeverityError, SeverityWarning)
	}
	if err := (Problems{}).Err(); err != nil {
		t.Errorf("empty Problems.Err() = %v", err)
	}
}

func TestFieldPaths(t *testing.T) {
	for _, tc := range []struct{ parent, key, want, up string }{
		{"", "contents", "contents", ""},
		{"environment", "PORT", "environment.PORT", "environment"},
		{"annotations", "com.example.team", "annotations.com.example.team", "annotations.com.example"},
		{"environment", "MY VAR", `environment["MY VAR"]`, "environment"},
		{"environment", `a["0"]`, `environment["a[\"0\"]"]`, "environment"},
		{"environment", "", `environment[""]`, "environment"},
	} {
		got := keyField(tc.parent, tc.key)
		if got != tc.want {
			t.Errorf("keyField(%q, %q) = %q, want %q", tc.parent, tc.key, got, tc.want)
		}
		if up := parentField(got); up != tc.up {
			t.Errorf("parentField(%q) = %q, want %q", got, up, tc.up)
		}
	}
	if got := parentField(indexField("accounts.users", 3) + ".uid"); got != "accounts.users[3]" {
		t.Errorf("parentField = %q", got)
	}
	if got := parentField("accounts.users[3]"); got != "accounts.users" {
		t.Errorf("parentField = %q", got)
	}
}

func TestNearest(t *testing.T) {
	top := append(append([]string(nil), keysTop...), nestedKeys...)
	for _, tc := range []struct {
		key        string
		candidates []string
		want       string
	}{
		{"pkgs", keysContents, "packages"},
		{"Packages", keysContents, "packages"},
		{"packges", keysContents, "packages"},
		{"runtimeKeyring", keysContents, "runtime_keyring"},
		{"runtime_repos", keysContents, "runtime_repositories"},
		{"runas", keysAccounts, "run-as"},
		{"user", keysAccounts, "users"},
		{"package", top, "contents.packages"},
		{"envirnoment", top, "environment"},
		{"labels", top, ""},
		{"path", keysEntry, ""},
		{"x", keysEntry, ""},
		{"", keysEntry, ""},
	} {
		if got := nearest(tc.key, tc.candidates); got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
