package overlay

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMarshal(t *testing.T) {
	gid := uint32(65532)
	o := Overlay{
		Packages:            []string{"jq", "curl"},
		RuntimeRepositories: []string{"https://b.example/x", "https://a.example/x"},
		RuntimeKeyring:      []NamedContent{{Name: "k.rsa.pub", Content: "KEY\r\n"}},
		Environment:         map[string]string{"PORT": "3000", "APP_ENV": "production", "DEBUG": "true", "EMPTY": ""},
		Annotations:         map[string]string{"com.example.team": "platform"},
		Accounts: Accounts{
			RunAs:  "appuser",
			Users:  []User{{UserName: "appuser", UID: 65532, GID: &gid, HomeDir: "/home/appuser", Shell: "/bin/sh"}},
			Groups: []Group{{GroupName: "appgroup", GID: 65532, Members: []string{"appuser"}}},
		},
		Certificates:         []NamedContent{{Name: "internal-ca", Content: "text\n-----BEGIN CERTIFICATE-----\nAAAA   \n-----END CERTIFICATE-----"}},
		CertificateProviders: []string{"ca-certificates-bundle"},
	}
	want := `contents:
  packages:
    - curl
    - jq
  runtime_repositories:
    - https://b.example/x
    - https://a.example/x
  runtime_keyring:
    - name: k.rsa.pub
      content: |
        KEY
environment:
  APP_ENV: production
  DEBUG: "true"
  EMPTY: ""
  PORT: "3000"
annotations:
  com.example.team: platform
accounts:
  run-as: appuser
  users:
    - username: appuser
      uid: 65532
      gid: 65532
      shell: /bin/sh
      homedir: /home/appuser
  groups:
    - groupname: appgroup
      gid: 65532
      members:
        - appuser
certificates:
  additional:
    - name: internal-ca
      content: |
        text
        -----BEGIN CERTIFICATE-----
        AAAA
        -----END CERTIFICATE-----
  providers:
    - ca-certificates-bundle
`
	got, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
	for _, empty := range []Overlay{{}, {Packages: []string{}, Accounts: Accounts{Users: []User{}}}} {
		got, err := Marshal(empty)
		if err != nil || string(got) != "{}\n" {
			t.Errorf("Marshal(empty) = %q, %v; want {}", got, err)
		}
	}
}

// Strings that YAML would read as something else come back as written.
func TestMarshalRoundTripTrickyStrings(t *testing.T) {
	tricky := []string{
		"", "3000", "0x1F", "1e3", "true", "no", "null", "~", "<<", "- x", ": x", "#c", "a: b", "a #b",
		"'q'", `"dq"`, " lead", "trail ", "\ttab", "two\nlines", "two\nlines\n", "  indented\nblock\n",
		"trailing space \nline\n", "é ü 日本", "*alias", "&anchor", "!tag", "%percent", "@at", "`tick",
		"{a: b}", "[a]", "2025-10-15", "2025-10-15T10:30:00Z", ".inf", "-.5", "0o17", "line\r\nwindows",
		"\x00nul", "bell\a", "\u2028ls", "\ufeffbom",
	}
	var o Overlay
	o.Environment = map[string]string{}
	o.Annotations = map[string]string{}
	for _, s := range tricky {
		o.Packages = append(o.Packages, s)
		o.Environment[s] = s
		o.Annotations["k"+s] = s
		o.Certificates = append(o.Certificates, NamedContent{Name: s, Content: s})
		o.Accounts.Users = append(o.Accounts.Users, User{UserName: s, Shell: s, HomeDir: s, GroupName: s})
	}
	o.Accounts.RunAs = "<<"
	out, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("tricky.yaml", out)
	// The overlay is invalid on purpose; only its values matter here.
	_ = err
	if diff := cmp.Diff(Canonical(o), back); diff != "" {
		t.Errorf("Parse(Marshal(o)) (-want +got):\n%s\n%s", diff, out)
	}
}
