package overlay

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEqual(t *testing.T) {
	cert := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	gid := uint32(10)
	for _, tc := range []struct {
		name string
		a, b Overlay
		want bool
	}{
		{"zero values", Overlay{}, Overlay{}, true},
		{"nil and empty slices and maps", Overlay{}, Overlay{
			Packages: []string{}, RuntimeRepositories: []string{}, RuntimeKeyring: []NamedContent{},
			Environment: map[string]string{}, Annotations: map[string]string{},
			Accounts:     Accounts{Users: []User{}, Groups: []Group{}},
			Certificates: []NamedContent{}, CertificateProviders: []string{},
		}, true},
		{"package order", Overlay{Packages: []string{"jq", "curl"}}, Overlay{Packages: []string{"curl", "jq"}}, true},
		{"package repeated", Overlay{Packages: []string{"curl", "curl"}}, Overlay{Packages: []string{"curl"}}, true},
		{"package differs", Overlay{Packages: []string{"curl"}}, Overlay{Packages: []string{"wget"}}, false},
		{"package added", Overlay{}, Overlay{Packages: []string{"curl"}}, false},
		{"certificate CRLF", Overlay{Certificates: []NamedContent{{Name: "ca", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "ca", Content: strings.ReplaceAll(cert, "\n", "\r\n")}}}, true},
		{"certificate trailing spaces and newlines", Overlay{Certificates: []NamedContent{{Name: "ca", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "ca", Content: strings.ReplaceAll(cert, "\n", " \t\n") + "\n\n"}}}, true},
		{"certificate without final newline", Overlay{Certificates: []NamedContent{{Name: "ca", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "ca", Content: strings.TrimSuffix(cert, "\n")}}}, true},
		{"certificate leading space is content", Overlay{Certificates: []NamedContent{{Name: "ca", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "ca", Content: " " + cert}}}, false},
		{"certificate order", Overlay{Certificates: []NamedContent{{Name: "a", Content: cert}, {Name: "b", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "b", Content: cert}, {Name: "a", Content: cert}}}, true},
		{"certificate renamed", Overlay{Certificates: []NamedContent{{Name: "a", Content: cert}}},
			Overlay{Certificates: []NamedContent{{Name: "b", Content: cert}}}, false},
		{"keyring CRLF and order", Overlay{RuntimeKeyring: []NamedContent{{Name: "k1", Content: "x\n"}, {Name: "k2", Content: "y\n"}}},
			Overlay{RuntimeKeyring: []NamedContent{{Name: "k2", Content: "y\r\n"}, {Name: "k1", Content: "x"}}}, true},
		{"runtime repository order matters", Overlay{RuntimeRepositories: []string{"https://a", "https://b"}},
			Overlay{RuntimeRepositories: []string{"https://b", "https://a"}}, false},
		{"environment", Overlay{Environment: map[string]string{"A": "1"}}, Overlay{Environment: map[string]string{"A": "1"}}, true},
		{"environment value", Overlay{Environment: map[string]string{"A": "1"}}, Overlay{Environment: map[string]string{"A": "2"}}, false},
		{"environment empty value is a value", Overlay{Environment: map[string]string{"A": ""}}, Overlay{}, false},
		{"users and groups order", Overlay{Accounts: Accounts{
			Users:  []User{{UserName: "b", UID: 2}, {UserName: "a", UID: 1, GID: &gid}},
			Groups: []Group{{GroupName: "y", GID: 2, Members: []string{"b", "a"}}, {GroupName: "x", GID: 1}},
		}}, Overlay{Accounts: Accounts{
			Users:  []User{{UserName: "a", UID: 1, GID: func() *uint32 { g := uint32(10); return &g }()}, {UserName: "b", UID: 2}},
			Groups: []Group{{GroupName: "x", GID: 1, Members: []string{}}, {GroupName: "y", GID: 2, Members: []string{"a", "b"}}},
		}}, true},
		{"gid unset and gid 0 differ", Overlay{Accounts: Accounts{Users: []User{{UserName: "a", UID: 1}}}},
			Overlay{Accounts: Accounts{Users: []User{{UserName: "a", UID: 1, GID: new(uint32)}}}}, false},
		{"run-as", Overlay{Accounts: Accounts{RunAs: "a"}}, Overlay{Accounts: Accounts{RunAs: "b"}}, false},
		{"providers as a set", Overlay{CertificateProviders: []string{"b", "a", "a"}}, Overlay{CertificateProviders: []string{"a", "b"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.a, tc.b); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
			if got := Equal(tc.b, tc.a); got != tc.want {
				t.Errorf("Equal reversed = %v, want %v", got, tc.want)
			}
			if got := Hash(tc.a) == Hash(tc.b); got != tc.want {
				t.Errorf("hashes equal = %v, want %v", got, tc.want)
			}
			if got := len(Diff(tc.a, tc.b)) == 0; got != tc.want {
				t.Errorf("Diff empty = %v, want %v: %v", got, tc.want, Diff(tc.a, tc.b))
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	in := Overlay{
		Packages:             []string{"jq", "curl", "jq"},
		RuntimeRepositories:  []string{"https://b", "https://a"},
		RuntimeKeyring:       []NamedContent{{Name: "z", Content: "k  \r\nl\r\n\r\n"}, {Name: "a", Content: "  \n\t"}},
		Environment:          map[string]string{},
		Accounts:             Accounts{Groups: []Group{{GroupName: "g", Members: []string{"b", "a"}}}},
		Certificates:         []NamedContent{{Name: "c", Content: "\nx"}},
		CertificateProviders: []string{},
	}
	want := Overlay{
		Packages:            []string{"curl", "jq"},
		RuntimeRepositories: []string{"https://b", "https://a"},
		RuntimeKeyring:      []NamedContent{{Name: "a", Content: ""}, {Name: "z", Content: "k\nl\n"}},
		Accounts:            Accounts{Groups: []Group{{GroupName: "g", Members: []string{"a", "b"}}}},
		Certificates:        []NamedContent{{Name: "c", Content: "\nx\n"}},
	}
	got := Canonical(in)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Canonical (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got, Canonical(got)); diff != "" {
		t.Errorf("Canonical is not idempotent (-once +twice):\n%s", diff)
	}
	if in.Packages[0] != "jq" || in.Accounts.Groups[0].Members[0] != "b" {
		t.Errorf("Canonical modified its input: %+v", in)
	}
}

// Hash is fixed: a change of encoding changes every hash the reconciler has
// recorded, so it must be deliberate. The empty overlay's hash was checked
// against a separate implementation of the encoding (uvarint length, bytes).
func TestHashStable(t *testing.T) {
	gid := uint32(65532)
	o := Overlay{
		Packages:             []string{"curl", "jq"},
		RuntimeRepositories:  []string{"https://apk.example.com/x"},
		RuntimeKeyring:       []NamedContent{{Name: "k.rsa.pub", Content: "key\n"}},
		Environment:          map[string]string{"PORT": "3000", "APP_ENV": "production"},
		Annotations:          map[string]string{"com.example.team": "platform"},
		Accounts:             Accounts{RunAs: "app", Users: []User{{UserName: "app", UID: 65532, GID: &gid, Shell: "/bin/sh", HomeDir: "/home/app"}}, Groups: []Group{{GroupName: "app", GID: 65532, Members: []string{"app"}}}},
		Certificates:         []NamedContent{{Name: "ca", Content: "cert\n"}},
		CertificateProviders: []string{"ca-certificates-bundle"},
	}
	for _, tc := range []struct {
		name string
		o    Overlay
		want string
	}{
		{"empty", Overlay{}, "sha256:60a8089fe364f03c85dad28732467897e0ef8a917332926f934660e98f4f9f10"},
		{"full", o, "sha256:837bb65fc81bf353a78d8b2a69359417a4a4fd3a216e9a0f2882e027bf0ed6d0"},
	} {
		if got := Hash(tc.o); got != tc.want {
			t.Errorf("Hash(%s) = %s, want %s", tc.name, got, tc.want)
		}
	}
	if Hash(o) != Hash(Canonical(o)) {
		t.Error("Hash differs between equal overlays")
	}
	// Length prefixes keep neighbouring values apart.
	if Hash(Overlay{Packages: []string{"ab"}}) == Hash(Overlay{Packages: []string{"a", "b"}}) {
		t.Error(`Hash confuses ["ab"] with ["a" "b"]`)
	}
	if Hash(Overlay{Environment: map[string]string{"A": "B"}}) == Hash(Overlay{Annotations: map[string]string{"A": "B"}}) {
		t.Error("Hash confuses environment with annotations")
	}
}

// IsZero is Equal(o, Overlay{}) for nil, {}, empty sections and anything
// else.
func TestIsZero(t *testing.T) {
	gid := uint32(0)
	for _, tc := range []struct {
		name string
		o    Overlay
		want bool
	}{
		{"zero value", Overlay{}, true},
		{"empty slices and maps", Overlay{Packages: []string{}, RuntimeRepositories: []string{}, RuntimeKeyring: []NamedContent{},
			Environment: map[string]string{}, Annotations: map[string]string{}, Accounts: Accounts{Users: []User{}, Groups: []Group{}},
			Certificates: []NamedContent{}, CertificateProviders: []string{}}, true},
		{"a package", Overlay{Packages: []string{"curl"}}, false},
		{"an empty package name", Overlay{Packages: []string{""}}, false},
		{"a runtime repository", Overlay{RuntimeRepositories: []string{"https://a"}}, false},
		{"a runtime key", Overlay{RuntimeKeyring: []NamedContent{{}}}, false},
		{"an environment entry", Overlay{Environment: map[string]string{"A": ""}}, false},
		{"an annotation", Overlay{Annotations: map[string]string{"": ""}}, false},
		{"run-as", Overlay{Accounts: Accounts{RunAs: "nonroot"}}, false},
		{"a user", Overlay{Accounts: Accounts{Users: []User{{GID: &gid}}}}, false},
		{"a group", Overlay{Accounts: Accounts{Groups: []Group{{}}}}, false},
		{"a certificate", Overlay{Certificates: []NamedContent{{Name: "c"}}}, false},
		{"a provider", Overlay{CertificateProviders: []string{"p"}}, false},
	} {
		if got := tc.o.IsZero(); got != tc.want {
			t.Errorf("%s: IsZero = %v, want %v", tc.name, got, tc.want)
		}
		if eq := Equal(tc.o, Overlay{}); eq != tc.want {
			t.Errorf("%s: Equal(o, {}) = %v, IsZero would disagree", tc.name, eq)
		}
	}
}
