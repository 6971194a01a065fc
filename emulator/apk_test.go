package emulator_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"chainguard.dev/apko/pkg/build/types"
	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// catalogSeed is an organization whose catalog exercises every way a build
// can fail, and one without a catalog.
const catalogSeed = `
orgs:
  - name: acme.example
    catalog:
      - jq
      - {name: curl, version: 8.1-r0, depends: [libcurl]}
      - {name: libcurl, version: 8.1-r0, provides: ["so:libcurl.so.4=4"]}
      - {name: mongo-8.0, version: 8.0.4-r1}
      - {name: python-3.13, version: 3.13.1-r0, provides: [python3=3.13.1-r0]}
      - {name: python-3.12, version: 3.12.8-r0, provides: [python3=3.12.8-r0]}
      - {name: x86-only, arch: [x86_64]}
      - {name: broken-dep, depends: [libmissing]}
      - {name: openssl, version: 3.3.0-r0}
      - {name: openssl, version: 3.4.1-r0}
      - {name: needs-new-openssl, depends: ["openssl>3.5"]}
    repos:
      - name: python
        active_tags: [latest]
        sync_config: {source: cgr.dev/chainguard/python, apko_overlay: x}
        base_packages: [python-3.13]
      - name: amd64
        active_tags: [latest]
        sync_config: {source: cgr.dev/chainguard/amd64, apko_overlay: x}
        archs: [x86_64]
  - name: open.example
    repos:
      - name: anything
        active_tags: [latest]
        sync_config: {source: cgr.dev/chainguard/anything, apko_overlay: x}
`

func seeded(t *testing.T, seed string) (*emulator.Server, string) {
	t.Helper()
	sd, err := emulator.ParseSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	emu, url := start(t, emulator.Options{})
	if err := emu.ApplySeed(sd); err != nil {
		t.Fatal(err)
	}
	return emu, url
}

// The emulator's builds fail for exactly the reasons apk gives, decided
// by apko's resolver over the organization's catalog, with apk's words as
// the log's last lines; a build that resolves records the locked
// configuration.
func TestBuildsResolveTheCatalog(t *testing.T) {
	emu, url := seeded(t, catalogSeed)
	c := dial(t, url, "")
	repoID := func(name string) string {
		t.Helper()
		l, err := c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{Name: name})
		if err != nil || len(l.GetItems()) != 1 {
			t.Fatalf("repo %s: %v %v", name, l, err)
		}
		return l.GetItems()[0].GetId()
	}
	for _, tc := range []struct {
		name     string
		repo     string
		packages []string
		tail     string   // the last lines of a failure
		locked   []string // the locked packages of a success
	}{
		{name: "resolves", repo: "python", packages: []string{"curl", "jq"},
			locked: []string{"curl=8.1-r0", "jq=1.0-r0", "libcurl=8.1-r0", "python-3.13=3.13.1-r0"}},
		{name: "a version that exists", repo: "python", packages: []string{"openssl=3.3.0-r0"},
			locked: []string{"openssl=3.3.0-r0", "python-3.13=3.13.1-r0"}},
		{name: "no such package", repo: "python", packages: []string{"curl", "mongo-9.0"},
			tail: "ERROR: unable to select packages:\n  mongo-9.0 (no such package):\n    required by: world[mongo-9.0]"},
		{name: "no such version", repo: "python", packages: []string{"curl=1.2-r0"},
			tail: "ERROR: unable to select packages:\n  curl-8.1-r0:\n    breaks: world[curl=1.2-r0]"},
		{name: "nothing newer", repo: "python", packages: []string{"curl>8.1-r0"},
			tail: "ERROR: unable to select packages:\n  curl-8.1-r0:\n    breaks: world[curl>8.1-r0]"},
		{name: "nothing close", repo: "python", packages: []string{"openssl~3.5"},
			tail: "ERROR: unable to select packages:\n  openssl-3.4.1-r0:\n    breaks: world[openssl~3.5]"},
		{name: "unmet dependency", repo: "python", packages: []string{"broken-dep"},
			tail: "ERROR: unable to select packages:\n  libmissing (no such package):\n    required by: broken-dep-1.0-r0[libmissing]"},
		{name: "dependency constraint", repo: "python", packages: []string{"needs-new-openssl"},
			tail: "ERROR: unable to select packages:\n  openssl-3.4.1-r0:\n    breaks: needs-new-openssl-1.0-r0[openssl>3.5]"},
		{name: "conflict with the base image", repo: "python", packages: []string{"python-3.12"},
			tail: "ERROR: unable to select packages:\n  python-3.13-3.13.1-r0:\n    conflicts: python-3.12-3.12.8-r0[python3=3.12.8-r0]\n    satisfies: world[python-3.13]"},
		{name: "missing on one architecture", repo: "python", packages: []string{"x86-only"},
			tail: "ERROR: unable to select packages:\n  x86-only (no such package):\n    required by: world[x86-only]"},
		{name: "an image of that architecture only", repo: "amd64", packages: []string{"x86-only"},
			locked: []string{"x86-only=1.0-r0"}},
		{name: "no catalog: anything builds", repo: "anything", packages: []string{"whatever=9"},
			locked: []string{"whatever=9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := repoID(tc.repo)
			before := len(emu.BuildReports(id))
			setPackages(t, emu, id, tc.packages...)
			var b *registryv1.BuildReport
			eventually(t, "the build", func() bool {
				all := emu.BuildReports(id)
				b = all[len(all)-1]
				return len(all) > before && b.GetCompletedAt() != nil
			})
			if tc.tail != "" {
				lines := strings.Split(strings.TrimSuffix(b.GetLog(), "\n"), "\n")
				n := strings.Count(tc.tail, "\n") + 1
				if got := strings.Join(lines[len(lines)-n:], "\n"); b.GetResult() != registryv1.BuildReport_Failure || got != tc.tail {
					t.Errorf("%s, log tail:\n%s\nwant failure:\n%s\nlog:\n%s", b.GetResult(), got, tc.tail, b.GetLog())
				}
				if !strings.Contains(b.GetLog(), "[ERROR]Failed to build layer image for ") || b.GetDigest() != "" || b.GetLockedConfig() != "" {
					t.Errorf("failed build: digest %q, locked_config %q, log:\n%s", b.GetDigest(), b.GetLockedConfig(), b.GetLog())
				}
				return
			}
			if b.GetResult() != registryv1.BuildReport_Success {
				t.Fatalf("%s, log:\n%s", b.GetResult(), b.GetLog())
			}
			var cfg types.ImageConfiguration
			if err := json.Unmarshal([]byte(b.GetLockedConfig()), &cfg); err != nil {
				t.Fatalf("locked_config %q: %v", b.GetLockedConfig(), err)
			}
			if diff := cmp.Diff(tc.locked, cfg.Contents.Packages); diff != "" {
				t.Errorf("locked packages (-want +got):\n%s", diff)
			}
			if !strings.Contains(b.GetLog(), "[INFO]Building image with locked configuration: "+b.GetLockedConfig()) {
				t.Errorf("log does not show the locked configuration:\n%s", b.GetLog())
			}
		})
	}

	// The locked configuration is apko's, archs included.
	id := repoID("python")
	setPackages(t, emu, id, "jq")
	eventually(t, "the build", func() bool {
		all := emu.BuildReports(id)
		return all[len(all)-1].GetCompletedAt() != nil
	})
	all := emu.BuildReports(id)
	var cfg types.ImageConfiguration
	if err := json.Unmarshal([]byte(all[len(all)-1].GetLockedConfig()), &cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]types.Architecture{types.ParseArchitecture("x86_64"), types.ParseArchitecture("aarch64")}, cfg.Archs); diff != "" {
		t.Errorf("archs (-want +got):\n%s", diff)
	}
}

// ListAPKs serves each organization's catalog with the SDK's filter and
// pagination semantics.
func TestListAPKs(t *testing.T) {
	emu, url := seeded(t, catalogSeed)
	c := dial(t, url, "")
	apks := c.APK().APK()
	orgs, err := c.IAM().Groups().List(t.Context(), &iamv1.GroupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, g := range orgs.GetItems() {
		ids[g.GetName()] = g.GetId()
	}
	acme := &commonv1.UIDPFilter{DescendantsOf: ids["acme.example"]}
	names := func(items []*apkv1.APKPackage) []string {
		var out []string
		for _, p := range items {
			out = append(out, p.GetPackageName()+"-"+p.GetVersion()+"/"+p.GetArchitecture())
		}
		return out
	}
	list := func(f *apkv1.APKFilter) *apkv1.APKList {
		t.Helper()
		l, err := apks.ListAPKs(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	everything := list(&apkv1.APKFilter{Uidp: acme})
	if everything.GetTotalCount() != 21 || len(everything.GetItems()) != 21 || everything.GetNextPageToken() != "" {
		t.Errorf("page_size 0 without a token: %d of %d, token %q; want all 21 (10 packages on both archs, 1 on x86_64)",
			len(everything.GetItems()), everything.GetTotalCount(), everything.GetNextPageToken())
	}
	for _, p := range everything.GetItems() {
		if uidp.Parent(p.GetId()) != ids["acme.example"] || !uidp.Valid(p.GetId()) || len(p.GetChecksum()) != 20 || p.GetBuildTime() == nil {
			t.Errorf("package %v", p)
		}
	}
	for _, tc := range []struct {
		name   string
		filter *apkv1.APKFilter
		want   []string
	}{
		{"by name (ties in uid order)", &apkv1.APKFilter{Uidp: acme, PackageName: "openssl", OrderBy: "package_name"},
			sortedByID(everything.GetItems(), "openssl")},
		{"by name and arch", &apkv1.APKFilter{Uidp: acme, PackageName: "openssl", Architecture: "x86_64", OrderBy: "build_time"},
			[]string{"openssl-3.3.0-r0/x86_64", "openssl-3.4.1-r0/x86_64"}},
		{"newest only", &apkv1.APKFilter{Uidp: acme, PackageName: "openssl", Architecture: "aarch64", MostRecentlyUpdated: true},
			[]string{"openssl-3.4.1-r0/aarch64"}},
		{"newest first", &apkv1.APKFilter{Uidp: acme, PackageName: "openssl", Architecture: "aarch64", OrderBy: "build_time desc"},
			[]string{"openssl-3.4.1-r0/aarch64", "openssl-3.3.0-r0/aarch64"}},
		{"one architecture", &apkv1.APKFilter{Uidp: acme, Architecture: "x86_64", PackageName: "x86-only"}, []string{"x86-only-1.0-r0/x86_64"}},
		{"missing there", &apkv1.APKFilter{Uidp: acme, Architecture: "aarch64", PackageName: "x86-only"}, nil},
		{"by origin", &apkv1.APKFilter{Uidp: acme, Origin: "jq", Architecture: "x86_64"}, []string{"jq-1.0-r0/x86_64"}},
		{"every org with a catalog", &apkv1.APKFilter{PackageName: "jq", OrderBy: "package_name"}, []string{"jq-1.0-r0/aarch64", "jq-1.0-r0/x86_64"}},
	} {
		if diff := cmp.Diff(tc.want, names(list(tc.filter).GetItems())); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	desc := list(&apkv1.APKFilter{Uidp: acme, Architecture: "x86_64", OrderBy: "package_name desc"})
	if got := names(desc.GetItems()); got[0] != "x86-only-1.0-r0/x86_64" || got[len(got)-1] != "broken-dep-1.0-r0/x86_64" {
		t.Errorf("package_name desc = %v", got)
	}
	var d = dep(everything.GetItems(), "curl")
	if diff := cmp.Diff([]string{"libcurl"}, d.GetDepend()); diff != "" || !slices.Equal(dep(everything.GetItems(), "libcurl").GetProvides(), []string{"so:libcurl.so.4=4"}) {
		t.Errorf("depend/provides of curl and libcurl: %v, %v", d, dep(everything.GetItems(), "libcurl"))
	}

	// Every page, in uid order, 4 at a time; skip and skipped.
	var pages []string
	for tok, n := "", 0; ; n++ {
		l := list(&apkv1.APKFilter{Uidp: acme, PageSize: 4, PageToken: tok})
		pages = append(pages, names(l.GetItems())...)
		if tok = l.GetNextPageToken(); tok == "" {
			if n != 5 {
				t.Errorf("%d pages of 4, want 6", n+1)
			}
			break
		}
	}
	if diff := cmp.Diff(names(everything.GetItems()), pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	skipped := list(&apkv1.APKFilter{Uidp: acme, PageSize: 3, Skip: 2})
	next := list(&apkv1.APKFilter{Uidp: acme, PageSize: 3, Skip: 2, PageToken: skipped.GetNextPageToken()})
	if diff := cmp.Diff(names(everything.GetItems()[7:10]), names(next.GetItems())); diff != "" || next.GetSkipped() != 4 {
		t.Errorf("skip 2 twice (-want +got):\n%s skipped %d", diff, next.GetSkipped())
	}

	// An organization without a catalog: as for a caller without apk.list.
	_, err = apks.ListAPKs(t.Context(), &apkv1.APKFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: ids["open.example"]}})
	wantStatus(t, err, codes.PermissionDenied, "the caller does not have the capability apk.list on "+ids["open.example"])
	_, err = apks.ListAPKs(t.Context(), &apkv1.APKFilter{Uidp: acme, OrderBy: "size"})
	wantStatus(t, err, codes.InvalidArgument, `order_by: unknown field "size" (known: uid, package_name, build_time)`)
	_, err = apks.ListAPKs(t.Context(), &apkv1.APKFilter{Uidp: acme, PackageName: "jq", PageToken: skipped.GetNextPageToken()})
	wantStatus(t, err, codes.InvalidArgument, "invalid page_token: it does not belong to this filter and order_by")

	// The default page size with a token is 50, and no page is larger
	// than 200.
	var big []emulator.Package
	for i := range 300 {
		big = append(big, emulator.Package{Name: fmt.Sprintf("pkg-%03d", i)})
	}
	if err := emu.SetCatalogPackages(ids["open.example"], big); err != nil {
		t.Fatal(err)
	}
	open := &commonv1.UIDPFilter{DescendantsOf: ids["open.example"]}
	first := list(&apkv1.APKFilter{Uidp: open, PageSize: 1000})
	if len(first.GetItems()) != 200 || first.GetTotalCount() != 600 {
		t.Errorf("page_size 1000: %d of %d, want 200 of 600", len(first.GetItems()), first.GetTotalCount())
	}
	second := list(&apkv1.APKFilter{Uidp: open, PageToken: list(&apkv1.APKFilter{Uidp: open, PageSize: 1}).GetNextPageToken()})
	if len(second.GetItems()) != 50 {
		t.Errorf("page_size 0 with a token: %d, want the default 50", len(second.GetItems()))
	}
}

// sortedByID names the entries of one package in uid order.
func sortedByID(items []*apkv1.APKPackage, name string) []string {
	var out []*apkv1.APKPackage
	for _, p := range items {
		if p.GetPackageName() == name {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *apkv1.APKPackage) int { return strings.Compare(a.GetId(), b.GetId()) })
	var names []string
	for _, p := range out {
		names = append(names, p.GetPackageName()+"-"+p.GetVersion()+"/"+p.GetArchitecture())
	}
	return names
}

func dep(items []*apkv1.APKPackage, name string) *apkv1.APKPackage {
	for _, p := range items {
		if p.GetPackageName() == name {
			return p
		}
	}
	return nil
}

func TestCatalogSeedErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "orgs:\n  - name: a\n    catalog:\n      - {name: x, colour: red}\n",
			"decoding: line 4: colour: unknown key (known: name, version, arch, depends, provides)"},
		{"list for a name", "orgs:\n  - name: a\n    catalog:\n      - {name: [x]}\n", "decoding: line 4: name: cannot unmarshal !!seq into string"},
		{"bad version", "orgs:\n  - name: a\n    catalog: [{name: x, version: 'not a version'}]\n", `orgs[0].catalog[0]: version "not a version" is not an apk version`},
		{"bad arch", "orgs:\n  - name: a\n    catalog: [{name: x, arch: [riscv64]}]\n", `orgs[0].catalog[0]: unknown architecture "riscv64" (known: x86_64, aarch64)`},
		{"bad name", "orgs:\n  - name: a\n    catalog: ['curl=8.1']\n", `orgs[0].catalog[0]: "curl=8.1" is not a package name`},
		{"twice", "orgs:\n  - name: a\n    catalog: [x, {name: x, arch: [aarch64]}]\n", "orgs[0].catalog[1]: x-1.0-r0 on aarch64 is listed twice"},
		{"repo arch", "orgs:\n  - name: a\n    repos: [{name: r, archs: [arm64]}]\n", `orgs[0].repos[0].archs[0]: unknown architecture "arm64" (known: x86_64, aarch64)`},
		{"repo base", "orgs:\n  - name: a\n    repos: [{name: r, base_packages: [{x: y}]}]\n", "decoding: line 3: base_packages: want a list of names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := emulator.ParseSeed([]byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseSeed error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}
