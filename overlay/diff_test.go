package overlay

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func diffStrings(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

func TestDiff(t *testing.T) {
	certA := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	certB := "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
	gid := uint32(100)
	for _, tc := range []struct {
		name          string
		before, after Overlay
		want          []string
	}{
		{"nothing", Overlay{}, Overlay{}, nil},
		{"packages", Overlay{Packages: []string{"jq", "bash"}}, Overlay{Packages: []string{"curl", "bash"}},
			[]string{"+ package curl", "- package jq"}},
		{"package order is no change", Overlay{Packages: []string{"a", "b"}}, Overlay{Packages: []string{"b", "a", "a"}}, nil},
		{"environment", Overlay{Environment: map[string]string{"LOG_LEVEL": "info", "OLD": "x", "SAME": "s"}},
			Overlay{Environment: map[string]string{"LOG_LEVEL": "debug", "NEW": "", "SAME": "s"}},
			[]string{"~ environment LOG_LEVEL: info -> debug", `+ environment NEW: ""`, "- environment OLD: x"}},
		{"values needing quotes", Overlay{Environment: map[string]string{"A": "two words", "B": " padded", "C": "a -> b", "D": "line\nbreak"}},
			Overlay{},
			[]string{"- environment A: two words", `- environment B: " padded"`, `- environment C: "a -> b"`, `- environment D: "line\nbreak"`}},
		{"annotations", Overlay{Annotations: map[string]string{"com.x": "y"}},
			Overlay{Annotations: map[string]string{"com.x": "z", "com.y": "1"}},
			[]string{"~ annotation com.x: y -> z", "+ annotation com.y: 1"}},
		{"run-as", Overlay{Accounts: Accounts{RunAs: "a"}}, Overlay{Accounts: Accounts{RunAs: "b"}},
			[]string{"~ accounts run-as: a -> b"}},
		{"run-as added and removed", Overlay{}, Overlay{Accounts: Accounts{RunAs: "a"}}, []string{"+ accounts run-as: a"}},
		{"run-as removed", Overlay{Accounts: Accounts{RunAs: "a"}}, Overlay{}, []string{"- accounts run-as: a"}},
		{"users", Overlay{Accounts: Accounts{Users: []User{
			{UserName: "appuser", UID: 1, Shell: "/bin/sh"},
			{UserName: "gone", UID: 3},
		}}}, Overlay{Accounts: Accounts{Users: []User{
			{UserName: "appuser", UID: 2, GID: &gid, HomeDir: "/home/appuser"},
			{UserName: "new", UID: 4},
		}}}, []string{
			"~ user appuser: uid 1 -> 2",
			"~ user appuser: gid (none) -> 100",
			"~ user appuser: shell /bin/sh -> (none)",
			"~ user appuser: homedir (none) -> /home/appuser",
			"- user gone",
			"+ user new",
		}},
		{"groups", Overlay{Accounts: Accounts{Groups: []Group{{GroupName: "g", GID: 1, Members: []string{"a"}}, {GroupName: "old", GID: 5}}}},
			Overlay{Accounts: Accounts{Groups: []Group{{GroupName: "g", GID: 2, Members: []string{"b", "a"}}}}},
			[]string{"~ group g: gid 1 -> 2", "~ group g: members a -> a,b", "- group old"}},
		{"certificates", Overlay{Certificates: []NamedContent{{Name: "internal-ca", Content: certA}, {Name: "old", Content: certA}}},
			Overlay{Certificates: []NamedContent{{Name: "internal-ca", Content: certB}, {Name: "partner", Content: certB}}},
			[]string{
				"~ certificate internal-ca: " + digest(certA) + " -> " + digest(certB),
				"- certificate old " + digest(certA),
				"+ certificate partner " + digest(certB),
			}},
		{"certificate line endings are no change", Overlay{Certificates: []NamedContent{{Name: "ca", Content: certA}}},
			Overlay{Certificates: []NamedContent{{Name: "ca", Content: strings.ReplaceAll(certA, "\n", "\r\n")}}}, nil},
		{"runtime keyring", Overlay{}, Overlay{RuntimeKeyring: []NamedContent{{Name: "k.rsa.pub", Content: "KEY\n"}}},
			[]string{"+ runtime_key k.rsa.pub " + digest("KEY\n")}},
		{"runtime repositories", Overlay{RuntimeRepositories: []string{"https://a.example/x", "https://old.example"}},
			Overlay{RuntimeRepositories: []string{"https://a.example/x", "https://new.example"}},
			[]string{"+ runtime_repository https://new.example", "- runtime_repository https://old.example"}},
		{"runtime repository order", Overlay{RuntimeRepositories: []string{"https://a", "https://b"}},
			Overlay{RuntimeRepositories: []string{"https://b", "https://a", "https://c"}},
			[]string{"+ runtime_repository https://c", "~ runtime_repositories: https://a, https://b -> https://b, https://a, https://c"}},
		{"runtime repository credentials masked", Overlay{},
			Overlay{RuntimeRepositories: []string{"https://user:s3cret@apk.example.com/x", "@t https://tok3n@apk.example.com/y", "https://apk.example.com/z?token=s3cret", "https://a b@c/%zz"}},
			[]string{"+ runtime_repository @t https://REDACTED@apk.example.com/y", "+ runtime_repository https://REDACTED@apk.example.com/x", "+ runtime_repository https://REDACTED@c/%zz", "+ runtime_repository https://apk.example.com/z?token=REDACTED"}},
		{"providers", Overlay{CertificateProviders: []string{"a"}}, Overlay{CertificateProviders: []string{"b"}},
			[]string{"- certificate_provider a", "+ certificate_provider b"}},
		{"empty package name is shown", Overlay{}, Overlay{Packages: []string{""}}, []string{`+ package ""`}},
		{"every section in file order", Overlay{}, Overlay{
			Packages:             []string{"curl"},
			RuntimeRepositories:  []string{"https://r"},
			RuntimeKeyring:       []NamedContent{{Name: "k", Content: "K\n"}},
			Environment:          map[string]string{"E": "1"},
			Annotations:          map[string]string{"a": "1"},
			Accounts:             Accounts{RunAs: "u", Users: []User{{UserName: "u", UID: 1}}, Groups: []Group{{GroupName: "g", GID: 1}}},
			Certificates:         []NamedContent{{Name: "c", Content: "C\n"}},
			CertificateProviders: []string{"p"},
		}, []string{
			"+ package curl", "+ runtime_repository https://r", "+ runtime_key k " + digest("K\n"),
			"+ environment E: 1", "+ annotation a: 1", "+ accounts run-as: u", "+ user u", "+ group g",
			"+ certificate c " + digest("C\n"), "+ certificate_provider p",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diffStrings(Diff(tc.before, tc.after))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChangeFields(t *testing.T) {
	got := Diff(Overlay{Environment: map[string]string{"A": "1"}}, Overlay{Environment: map[string]string{"A": "2"}, Packages: []string{"curl"}})
	want := []Change{
		{Op: '+', Field: "package", Key: "curl"},
		{Op: '~', Field: "environment", Key: "A", Before: "1", After: "2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if d := digest("x"); !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+12+len("…") {
		t.Errorf("digest = %q, want sha256: and 12 hex digits", d)
	}
}

// A diff names certificates and keys, never their content, and masks
// repository credentials.
func TestDiffHidesSecrets(t *testing.T) {
	const body = "MIIBszCCAVmgAwIBAgIUSECRETSECRETSECRET"
	content := "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n"
	other := "comment\n" + content
	withContent := Overlay{
		RuntimeKeyring:      []NamedContent{{Name: "k", Content: content}},
		Certificates:        []NamedContent{{Name: "c", Content: content}},
		RuntimeRepositories: []string{"https://robot:p4ssw0rd@apk.example.com/x"},
	}
	changedContent := Overlay{
		RuntimeKeyring:      []NamedContent{{Name: "k", Content: other}},
		Certificates:        []NamedContent{{Name: "c", Content: other}},
		RuntimeRepositories: []string{"https://robot:p4ssw0rd@apk.example.com/x", "https://robot:other@apk.example.com/x"},
	}
	for _, pair := range [][2]Overlay{{Overlay{}, withContent}, {withContent, Overlay{}}, {withContent, changedContent}} {
		cs := Diff(pair[0], pair[1])
		if len(cs) == 0 {
			t.Fatal("no changes")
		}
		for _, c := range cs {
			for _, s := range []string{c.String(), c.Key, c.Before, c.After} {
				for _, secret := range []string{body, "BEGIN", "comment", "p4ssw0rd", "other@"} {
					if strings.Contains(s, secret) {
						t.Errorf("change %q shows %q", c, secret)
					}
				}
			}
		}
	}
}

// A diff line stays short whatever the values: a live overlay (a Console
// edit) is bounded by no file limit.
func TestDiffBoundsValues(t *testing.T) {
	big := strings.Repeat("v", 5<<20)
	before := Overlay{
		Packages:            []string{big},
		Environment:         map[string]string{"A": "small", big: "x"},
		Annotations:         map[string]string{"com.x": big},
		RuntimeRepositories: []string{"https://a.example/" + big, "https://b.example"},
		Accounts:            Accounts{RunAs: big, Users: []User{{UserName: "u", UID: 1, Shell: big}}, Groups: []Group{{GroupName: "g", Members: []string{big}}}},
	}
	after := Overlay{
		Environment:         map[string]string{"A": big},
		RuntimeRepositories: []string{"https://b.example", "https://a.example/" + big},
		Accounts:            Accounts{Users: []User{{UserName: "u", UID: 1}}, Groups: []Group{{GroupName: "g"}}},
	}
	lines := diffStrings(Diff(before, after))
	if len(lines) != 8 {
		t.Errorf("%d changes, want 8:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if len(l) > 300 {
			t.Errorf("diff line of %d bytes: %.100s…", len(l), l)
		}
	}
	want := `~ environment A: small -> "vvvvvvvvvvvvvvvvvvvvvvvv"… (5242880 bytes, sha256:` + abbreviate(big)[len(`"vvvvvvvvvvvvvvvvvvvvvvvv"… (5242880 bytes, sha256:`):]
	if !slices.Contains(lines, want) {
		t.Errorf("no line %q in\n%s", want, strings.Join(lines, "\n"))
	}
}
