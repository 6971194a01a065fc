package packagecheck

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

var bothArchs = []string{"x86_64", "aarch64"}

// pkg is a catalog entry on the given architectures (both when none).
type pkg struct {
	name, version     string
	depends, provides []string
	archs             []string
}

func listings(pkgs ...pkg) map[string]chainguard.PackageList {
	out := map[string]chainguard.PackageList{}
	for _, p := range pkgs {
		archs := p.archs
		if len(archs) == 0 {
			archs = bothArchs
		}
		for _, a := range archs {
			l := out[a]
			l.Packages = append(l.Packages, chainguard.Package{Name: p.name, Version: p.version, Arch: a, Origin: p.name, Depends: p.depends, Provides: p.provides})
			out[a] = l
		}
	}
	for _, a := range bothArchs {
		if _, ok := out[a]; !ok {
			out[a] = chainguard.PackageList{}
		}
	}
	return out
}

var testCatalog = []pkg{
	{name: "glibc", version: "2.41-r0", provides: []string{"so:libc.so.6=6"}},
	{name: "busybox", version: "1.37-r0", depends: []string{"so:libc.so.6"}},
	{name: "libcurl", version: "8.11-r0", depends: []string{"so:libc.so.6"}, provides: []string{"so:libcurl.so.4=4"}},
	{name: "curl", version: "8.11-r0", depends: []string{"so:libcurl.so.4"}, provides: []string{"cmd:curl=8.11-r0"}},
	{name: "jq", version: "1.7.1-r0"},
	{name: "mongo-7.0", version: "7.0.14-r0"},
	{name: "mongo-8.0", version: "8.0.4-r0"},
	{name: "openssl", version: "3.3.2-r0"},
	{name: "openssl", version: "3.4.0-r0"},
	{name: "python-3.13", version: "3.13.1-r0", provides: []string{"python3=3.13.1-r0"}},
	{name: "python-3.12", version: "3.12.8-r0", provides: []string{"python3=3.12.8-r0"}},
	{name: "x86-only", version: "1.0-r0", archs: []string{"x86_64"}},
	{name: "broken", version: "2.0-r0", depends: []string{"libnope"}},
	{name: "wrapper", version: "1.0-r0", depends: []string{"broken"}},
	{name: "skew", version: "1.1-r0", archs: []string{"x86_64"}},
	{name: "skew", version: "1.0-r0", archs: []string{"aarch64"}},
}

func TestCheckOneRepo(t *testing.T) {
	ix, err := indexFiles(t.Context(), t.TempDir(), 1, listings(testCatalog...), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	positions := map[string]overlay.Position{}
	for i := range 6 {
		positions["contents.packages["+string(rune('0'+i))+"]"] = overlay.Position{Line: 3 + i, Column: 7}
	}
	base := []string{"glibc", "busybox", "python-3.13"}
	for _, tc := range []struct {
		name     string
		packages []string
		base     []string
		archs    []string
		want     []string
		notes    []string
	}{
		{name: "everything resolves", packages: []string{"curl", "jq", "openssl=3.4.0-r0", "openssl>3.3"}, base: base},
		{name: "no packages", base: base},
		{name: "not in the index", packages: []string{"jq", "mongo-9.0"}, base: base, want: []string{
			`python.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)`}},
		{name: "nothing close", packages: []string{"zzzzzzzz"}, want: []string{
			`python.yaml:3:7: contents.packages[0]: "zzzzzzzz" is not available to acme.com on x86_64 and aarch64`}},
		{name: "one architecture only", packages: []string{"x86-only"}, base: base, want: []string{
			`python.yaml:3:7: contents.packages[0]: "x86-only" is not available to acme.com on aarch64 (it is on x86_64)`}},
		{name: "one architecture only, repo built for it", packages: []string{"x86-only"}, base: base, archs: []string{"x86_64"}},
		{name: "a version nothing satisfies", packages: []string{"openssl=3.5.0-r0", "openssl~3.2"}, base: base, want: []string{
			`python.yaml:3:7: contents.packages[0]: "openssl=3.5.0-r0": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0, 3.3.2-r0)`,
			`python.yaml:4:7: contents.packages[1]: "openssl~3.2": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0, 3.3.2-r0)`}},
		{name: "an unmet dependency", packages: []string{"jq", "broken"}, base: base, want: []string{
			`python.yaml:4:7: contents.packages[1]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.com (needed by broken-2.0-r0)`}},
		{name: "an unmet dependency two levels down", packages: []string{"wrapper"}, want: []string{
			`python.yaml:3:7: contents.packages[0]: "wrapper" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.com (needed by wrapper-1.0-r0 → broken-2.0-r0)`}},
		{name: "a conflict with the base", packages: []string{"jq", "python-3.12"}, base: base, want: []string{
			`python.yaml:4:7: contents.packages[1]: "python-3.12" cannot be installed on x86_64 and aarch64: python-3.12-3.12.8-r0 conflicts with python-3.13-3.13.1-r0 (both provide python3)`}},
		{name: "a conflict between the file's packages", packages: []string{"python-3.12", "jq", "python-3.13"}, want: []string{
			`python.yaml:5:7: contents.packages[2]: "python-3.13" cannot be installed on x86_64 and aarch64: python-3.13-3.13.1-r0 conflicts with python-3.12-3.12.8-r0 (both provide python3)`}},
		{name: "versions built for different architectures", packages: []string{"skew"}, base: base, want: []string{
			`python.yaml:3:7: contents.packages[0]: "skew": no version of skew is built for both x86_64 and aarch64 (x86_64 has 1.1-r0; aarch64 has 1.0-r0)`}},
		{name: "a pinned version built for one architecture", packages: []string{"skew=1.1-r0"}, base: base, want: []string{
			`python.yaml:3:7: contents.packages[0]: "skew=1.1-r0": no version of skew on aarch64 satisfies it (available: 1.0-r0)`}},
		{name: "a base that does not resolve today", packages: []string{"jq"}, base: []string{"glibc", "gone"}, notes: []string{
			`the base image's packages do not resolve on x86_64 and aarch64 against the index today ("gone" is not available to acme.com); the file's packages were checked without them`}},
		{name: "several problems at once", packages: []string{"mongo-9.0", "curl", "broken", "openssl=9-r0"}, base: base, want: []string{
			`python.yaml:3:7: contents.packages[0]: "mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)`,
			`python.yaml:5:7: contents.packages[2]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.com (needed by broken-2.0-r0)`,
			`python.yaml:6:7: contents.packages[3]: "openssl=9-r0": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0, 3.3.2-r0)`}},
		{name: "a provided name", packages: []string{"cmd:curl", "so:libcurl.so.4"}, base: base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archs := tc.archs
			if archs == nil {
				archs = bothArchs
			}
			s := newSession(ix, "acme.com")
			ps, notes := s.check(t.Context(), target{file: "python.yaml", packages: tc.packages, positions: positions, base: tc.base, archs: archs})
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.notes, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaseOf(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		live         []string
		base, archs  []string
		err          string
	}{
		{name: "apko's JSON", config: `{"contents":{"repositories":["https://apk.cgr.dev/acme.com"],"packages":["glibc=2.41-r0","python-3.13=3.13.1-r0","curl=8.11-r0","ca-certificates-bundle=20241121-r1"]},"archs":["amd64","arm64"],"entrypoint":{"command":"/usr/bin/python"}}`,
			live: []string{"curl"}, base: []string{"ca-certificates-bundle", "glibc", "python-3.13"}, archs: []string{"x86_64", "aarch64"}},
		{name: "apk architecture names", config: `{"contents":{"packages":["busybox"]},"archs":["aarch64"]}`, base: []string{"busybox"}, archs: []string{"aarch64"}},
		{name: "no archs", config: `{"contents":{"packages":["busybox=1.37-r0","busybox"]}}`, base: []string{"busybox"}},
		{name: "not JSON", config: `contents: {}`, err: "reading its locked_config: invalid character 'c' looking for beginning of value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, archs, err := baseOf(tc.config, tc.live)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Fatalf("error = %q, want %q", got, tc.err)
			}
			if diff := cmp.Diff(tc.base, base); diff != "" {
				t.Errorf("base (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.archs, archs); diff != "" {
				t.Errorf("archs (-want +got):\n%s", diff)
			}
		})
	}
}
