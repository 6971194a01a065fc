package emulator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func TestLoadSeedExample(t *testing.T) {
	seed, err := emulator.LoadSeed("../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	emu, url := start(t, emulator.Options{BuildDuration: 10 * time.Millisecond})
	if err := emu.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	c := dial(t, url, "")
	ctx := t.Context()

	orgs, err := c.IAM().Groups().List(ctx, &iamv1.GroupFilter{Name: "example-org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs.GetItems()) != 1 || orgs.GetItems()[0].GetId() != "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff" {
		t.Fatalf("example-org = %v", orgs.GetItems())
	}
	org := orgs.GetItems()[0].GetId()
	list, err := c.Registry().Registry().ListRepos(ctx, &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*registryv1.Repo{}
	var names []string
	for _, r := range list.GetItems() {
		byName[r.GetName()] = r
		names = append(names, r.GetName())
	}
	if diff := cmp.Diff([]string{"jdk", "nginx", "node", "python", "static"}, names); diff != "" {
		t.Fatalf("repos (-want +got):\n%s", diff)
	}
	python := byName["python"]
	want := &registryv1.Repo{
		Id:          python.GetId(),
		Name:        "python",
		Description: "Python with the platform team's tools",
		Readme:      "# python\nCustomized with ca-reconciler.\n",
		Bundles:     []string{"application"},
		Aliases:     []string{"python3"},
		ActiveTags:  []string{"latest", "3.13"},
		CatalogTier: registryv1.CatalogTier_APPLICATION,
		CreateTime:  python.GetCreateTime(),
		SyncConfig: &registryv1.SyncConfig{
			Source:      "cgr.dev/chainguard/python",
			ApkoOverlay: "contents: {}",
			Expiration:  timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)),
			UniqueTags:  true,
			GracePeriod: true,
		},
		CustomOverlay: &registryv1.CustomOverlay{
			Contents:    &registryv1.ImageContents{Packages: []string{"curl"}},
			Environment: map[string]string{"APP_ENV": "staging"},
		},
	}
	// The fields the SDK does not know, byte for byte.
	var guarded []byte
	guarded = protowire.AppendTag(guarded, 1, protowire.VarintType)
	guarded = protowire.AppendVarint(guarded, 1)
	guarded = protowire.AppendTag(guarded, 2, protowire.BytesType)
	guarded = protowire.AppendString(guarded, "fail-closed")
	var overlayUnknown []byte
	overlayUnknown = protowire.AppendTag(overlayUnknown, 16, protowire.BytesType)
	overlayUnknown = protowire.AppendBytes(overlayUnknown, guarded)
	want.CustomOverlay.ProtoReflect().SetUnknown(overlayUnknown)
	var repoUnknown []byte
	repoUnknown = protowire.AppendTag(repoUnknown, 20, protowire.BytesType)
	repoUnknown = protowire.AppendString(repoUnknown, "tag-scoped")
	want.ProtoReflect().SetUnknown(repoUnknown)
	if diff := cmp.Diff(want, python, protocmp.Transform()); diff != "" {
		t.Errorf("python (-want +got):\n%s", diff)
	}
	if co := byName["nginx"].GetCustomOverlay(); co == nil || len(co.GetEnvironment()) != 0 {
		t.Errorf("nginx overlay = %v, want empty", co)
	}
	if byName["static"].GetSyncConfig() != nil || byName["static"].GetCatalogTier() != registryv1.CatalogTier_BASE {
		t.Errorf("static = %v", byName["static"])
	}

	// The catalog applies: a package outside it fails the build.
	if err := emu.ConsoleEdit(byName["node"].GetId(), &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"left-pad"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node builds to fail", func() bool {
		b := emu.BuildReports(byName["node"].GetId())
		return len(b) == 1 && b[0].GetResult() == registryv1.BuildReport_Failure
	})
	if got, want := byName["node"].GetCustomOverlay().ProtoReflect().GetUnknown(), []byte{0x82, 0x01, 2, 8, 1}; string(got) != string(want) {
		t.Errorf("node overlay unknown fields = %x, want %x", got, want)
	}
	// The index is served, and builds resolve against it on the repo's
	// base: python builds curl with its dependency, and mongo-8.0 (x86_64
	// only) fails on aarch64.
	apks, err := c.APK().APK().ListAPKs(ctx, &apkv1.APKFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}, Architecture: "aarch64", MostRecentlyUpdated: true})
	if err != nil || apks.GetTotalCount() != 14 {
		t.Errorf("ListAPKs of example-org on aarch64, newest = %d packages, %v; want 14", apks.GetTotalCount(), err)
	}
	setPackages(t, emu, python.GetId(), "curl", "jq")
	setPackages(t, emu, byName["jdk"].GetId(), "mongo-8.0")
	eventually(t, "python and jdk to build", func() bool {
		p, j := emu.BuildReports(python.GetId()), emu.BuildReports(byName["jdk"].GetId())
		return len(p) == 2 && p[1].GetCompletedAt() != nil && len(j) == 2 && j[1].GetCompletedAt() != nil
	})
	for _, b := range emu.BuildReports(python.GetId()) {
		if b.GetResult() != registryv1.BuildReport_Success || !strings.Contains(b.GetLockedConfig(), `"packages":["busybox=1.0-r0","curl=8.11.1-r0","jq=1.0-r0","libcurl-openssl4=8.11.1-r0","python-3.13=3.13.1-r0"]`) {
			t.Errorf("python build %s, locked_config %s", b.GetResult(), b.GetLockedConfig())
		}
	}
	for _, b := range emu.BuildReports(byName["jdk"].GetId()) {
		if !strings.HasSuffix(b.GetLog(), "ERROR: unable to select packages:\n  mongo-8.0 (no such package):\n    required by: world[mongo-8.0]\n") {
			t.Errorf("jdk build log:\n%s", b.GetLog())
		}
	}

	// Entitlements apply: example-org may use certificates.
	cert := &registryv1.CustomOverlay{Certificates: &registryv1.CustomOverlay_Certificates{
		Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{{Name: "ca", Content: newPEM(t).cert}},
	}}
	if err := emu.ConsoleEdit(byName["jdk"].GetId(), cert); err != nil {
		t.Errorf("certificates in example-org: %v", err)
	}
	// Slow packages hang.
	if err := emu.ConsoleEdit(byName["nginx"].GetId(), &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"slow-build"}}}); err != nil {
		t.Fatal(err)
	}
	// So do slow repos.
	busybox, err := c.Registry().Registry().ListRepos(ctx, &registryv1.RepoFilter{Name: "busybox"})
	if err != nil || len(busybox.GetItems()) != 1 {
		t.Fatalf("busybox: %v, %v", busybox, err)
	}
	if err := emu.TriggerRebuild(busybox.GetItems()[0].GetId()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	slow := append(emu.BuildReports(byName["nginx"].GetId()), emu.BuildReports(busybox.GetItems()[0].GetId())...)
	if len(slow) != 3 {
		t.Errorf("%d slow builds, want 3", len(slow))
	}
	for _, b := range slow {
		if b.GetResult() != registryv1.BuildReport_Unknown {
			t.Errorf("slow build = %s, want still pending", b.GetResult())
		}
	}

	// Source images apply: a new repo from a catalog image the org may use.
	created, err := c.Registry().Registry().CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{
		Name: "custom-go", SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/go"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetSyncConfig().GetSource() != emulator.SourceImageID("go") {
		t.Errorf("custom-go source = %q", created.GetSyncConfig().GetSource())
	}
	_, err = c.Registry().Registry().CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: uidp.Root(busybox.GetItems()[0].GetId()), Repo: &registryv1.Repo{
		Name: "custom-go", SyncConfig: &registryv1.SyncConfig{Source: "go"},
	}})
	wantStatus(t, err, codes.PermissionDenied, `organization "other-org" is not entitled to source repository "go"`)

	// Applying the same seed again fails on the fixed id, and changes nothing.
	if err := emu.ApplySeed(seed); err == nil || err.Error() != `applying seed: orgs[0].id: "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff" is already used` {
		t.Errorf("second ApplySeed = %v", err)
	}
	all, err := c.IAM().Groups().List(ctx, &iamv1.GroupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetItems()) != 2 {
		t.Errorf("%d groups after a failed ApplySeed, want 2", len(all.GetItems()))
	}
}

func TestParseSeedEmptyAndCatalogs(t *testing.T) {
	seed, err := emulator.ParseSeed(nil)
	if err != nil || len(seed.Orgs) != 0 {
		t.Errorf("empty seed = %v, %v", seed, err)
	}
	seed, err = emulator.ParseSeed([]byte("orgs:\n  - name: a\n    catalog: []\n  - name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if seed.Orgs[0].Catalog == nil || seed.Orgs[1].Catalog != nil {
		t.Errorf("catalog [] must be an empty catalog and an absent one nil: %#v", seed.Orgs)
	}
}

func TestLoadSeedErrors(t *testing.T) {
	dir := t.TempDir()
	certYAML := indent(newPEM(t).cert, 18)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "orgs:\n  - name: a\n    colour: red\n",
			"decoding: yaml: unmarshal errors:\n  line 3: field colour not found in type emulator.SeedOrg"},
		{"unknown repo field", "orgs:\n  - name: a\n    repos:\n      - name: r\n        colour: red\n",
			"decoding: line 5: colour: unknown field of chainguard.platform.registry.Repo (known: active_tags, aliases, bundles, catalog_tier, create_time, custom_overlay, description, id, name, readme, sync_config, unknown_fields)"},
		{"unknown overlay field", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {apko_overlay: x}\n        custom_overlay:\n          contents:\n            pakages: [curl]\n",
			"decoding: line 8: custom_overlay.contents.pakages: unknown field of chainguard.platform.registry.ImageContents (known: packages, runtime_keyring, runtime_repositories, unknown_fields)"},
		{"apko key, not an API field", "orgs:\n  - name: a\n    repos:\n      - name: r\n        custom_overlay:\n          entrypoint: {command: /bin/sh}\n",
			"decoding: line 6: custom_overlay.entrypoint: unknown field of chainguard.platform.registry.CustomOverlay (known: accounts, annotations, certificates, contents, environment, unknown_fields)"},
		{"JSON names are the API's too", "orgs:\n  - name: a\n    repos:\n      - name: r\n        activeTags: [latest]\n        catalogTier: GOLD\n",
			`decoding: line 6: catalog_tier: invalid value for enum field catalogTier: "GOLD"`},
		{"wrong value type", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {unique_tags: maybe}\n",
			`decoding: line 5: sync_config.unique_tags: invalid value for bool field uniqueTags: "maybe"`},
		{"list for a scalar", "orgs:\n  - name: a\n    repos:\n      - name: [r]\n",
			"decoding: line 4: name: want a single value"},
		{"scalar for a message", "orgs:\n  - name: a\n    repos:\n      - name: r\n        custom_overlay: curl\n",
			"decoding: line 5: custom_overlay: want a mapping of chainguard.platform.registry.CustomOverlay fields"},
		{"duplicate key", "orgs:\n  - name: a\n    repos:\n      - name: r\n        custom_overlay:\n          environment: {A: '1'}\n          environment: {B: '2'}\n",
			"decoding: line 7: custom_overlay.environment: duplicate key"},
		{"expiration", "orgs:\n  - name: a\n    repos: [{name: r, sync_config: {expiration: tomorrow}}]\n",
			`decoding: line 3: sync_config.expiration: invalid google.protobuf.Timestamp value "tomorrow"`},
		{"unknown field with a known number", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields: [{number: 2, string: x}]\n",
			"decoding: line 5: unknown_fields[0].number: field 2 is name, which the SDK knows; set it by name"},
		{"unknown field without a value", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields: [{number: 30}]\n",
			"decoding: line 5: unknown_fields[0]: want exactly one of varint, fixed32, fixed64, string, bytes, message"},
		{"unknown field with two values", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields: [{number: 30, varint: 1, string: x}]\n",
			"decoding: line 5: unknown_fields[0]: want exactly one of varint, fixed32, fixed64, string, bytes, message; got varint and string"},
		{"unknown field, bad number", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields: [{number: 0, varint: 1}]\n",
			`decoding: line 5: unknown_fields[0].number: "0" is not a valid field number`},
		{"unknown field, bad base64", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields:\n          - number: 30\n            bytes: '%%%'\n",
			"decoding: line 7: unknown_fields[0].bytes: not base64: illegal base64 data at input byte 0"},
		{"unknown field, bad nested entry", "orgs:\n  - name: a\n    repos:\n      - name: r\n        unknown_fields:\n          - number: 30\n            message:\n              - {number: 1, colour: red}\n",
			"decoding: line 8: unknown_fields[0].message[0].colour: unknown key (known: number, varint, fixed32, fixed64, string, bytes, message)"},
		{"two documents", "orgs: []\n---\norgs: []\n", "more than one YAML document"},
		{"missing names", "orgs:\n  - repos:\n      - description: x\n",
			"orgs[0].name: is required\norgs[0].repos[0].name: is required"},
		{"server fields", "orgs:\n  - name: a\n    repos: [{name: r, id: x, create_time: '2026-01-01T00:00:00Z'}]\n",
			"orgs[0].repos[0].id: is set by the server\norgs[0].repos[0].create_time: is set by the server"},
		{"duplicates", "orgs:\n  - name: a\n    repos: [{name: r}, {name: r}]\n  - name: a\n",
			"orgs[0].repos[1].name: \"r\" is also the name of orgs[0].repos[0]\norgs[1].name: \"a\" is also the name of orgs[0]"},
		{"bad id", "orgs:\n  - name: a\n    id: ABC\n", `orgs[0].id: "ABC" is not a root UIDP (40 lowercase hex digits)`},
		{"entitlement", "orgs:\n  - name: a\n    entitlements: [certificates, gpus]\n",
			`orgs[0].entitlements[1]: unknown entitlement "gpus" (known: certificates, runtime_repositories)`},
		{"overlay on a repo that is not custom", "orgs:\n  - name: a\n    repos: [{name: r, custom_overlay: {environment: {A: '1'}}}]\n",
			"orgs[0].repos[0].custom_overlay: custom_overlay can only be set for custom images"},
		{"an overlay of unknown fields only is not empty", "orgs:\n  - name: a\n    repos: [{name: r, custom_overlay: {unknown_fields: [{number: 16, varint: 1}]}}]\n",
			"orgs[0].repos[0].custom_overlay: custom_overlay can only be set for custom images"},
		{"certificates without entitlement", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {apko_overlay: x}\n        custom_overlay:\n          certificates:\n            additional:\n              - name: ca\n                content: |\n" + certYAML,
			"orgs[0].repos[0].custom_overlay: using custom_overlay.certificates is not allowed"},
		{"reserved environment", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {apko_overlay: x}\n        custom_overlay: {environment: {GUARDED_MODE: on}}\n",
			`orgs[0].repos[0].custom_overlay: custom_overlay.environment: environment variable "GUARDED_MODE" uses reserved prefix "GUARDED_"`},
		{"empty names", "orgs:\n  - name: a\n    catalog: ['']\nslow_packages: ['']\nslow_repos: [' ']\n",
			"orgs[0].catalog[0]: \"\" is not a package name\nslow_packages[0]: empty package name\nslow_repos[0]: empty repo name"},
		{"source images", "orgs:\n  - name: a\n    source_images: [go, '', chainguard/node]\n",
			"orgs[0].source_images[1]: \"\" is not an image name\norgs[0].source_images[2]: \"chainguard/node\" is not an image name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "seed.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := emulator.LoadSeed(path)
			want := "seed " + path + ": " + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("LoadSeed error:\n got: %v\nwant: %s", err, want)
			}
		})
	}
	_, err := emulator.LoadSeed(filepath.Join(dir, "missing.yaml"))
	if want := "reading seed: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing file: %v, want %s", err, want)
	}
	// ApplySeed checks a seed built in code too.
	emu := emulator.New(emulator.Options{})
	defer emu.Close()
	err = emu.ApplySeed(emulator.Seed{Orgs: []emulator.SeedOrg{{}}})
	if want := "applying seed: orgs[0].name: is required"; err == nil || err.Error() != want {
		t.Errorf("ApplySeed = %v, want %s", err, want)
	}
}

// Every value form of the API's shape reaches the proto: YAML numbers for
// strings, enum names and numbers, timestamps, maps, nested lists, and
// unknown fields of every wire type at several levels.
func TestParseSeedAPIShape(t *testing.T) {
	seed, err := emulator.ParseSeed([]byte(`
orgs:
  - name: a
    repos:
      - name: r
        active_tags: [latest, 3.13, 1e3]
        catalog_tier: 5
        sync_config:
          apko_overlay: x
          expiration: 2030-01-02T03:04:05.000006Z
          unknown_fields:
            - {number: 30, fixed32: 7}
            - {number: 31, fixed64: 0x10}
        custom_overlay:
          accounts:
            run_as: "65532"
            users:
              - {user_name: app, uid: 65532, gid: 0, home_dir: /home/app}
            groups:
              - {groupName: app, gid: 65532, members: [app]}
          environment: {PORT: 3000, DEBUG: true}
          unknown_fields:
            - {number: 16, message: [{number: 1, varint: 1}, {number: 2, message: [{number: 1, string: x}]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := seed.Orgs[0].Repos[0].Repo
	gid := uint32(0)
	want := &registryv1.Repo{
		Name:        "r",
		ActiveTags:  []string{"latest", "3.13", "1e3"},
		CatalogTier: registryv1.CatalogTier_BASE,
		SyncConfig: &registryv1.SyncConfig{
			ApkoOverlay: "x",
			Expiration:  timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)),
		},
		CustomOverlay: &registryv1.CustomOverlay{
			Accounts: &registryv1.ApkoConfig_Accounts{
				RunAs:  "65532",
				Users:  []*registryv1.ApkoConfig_Accounts_User{{UserName: "app", Uid: 65532, Gid: &gid, HomeDir: "/home/app"}},
				Groups: []*registryv1.ApkoConfig_Accounts_Group{{GroupName: "app", Gid: 65532, Members: []string{"app"}}},
			},
			Environment: map[string]string{"PORT": "3000", "DEBUG": "true"},
		},
	}
	var sc []byte
	sc = protowire.AppendFixed32(protowire.AppendTag(sc, 30, protowire.Fixed32Type), 7)
	sc = protowire.AppendFixed64(protowire.AppendTag(sc, 31, protowire.Fixed64Type), 16)
	want.SyncConfig.ProtoReflect().SetUnknown(sc)
	var inner, mid, co []byte
	inner = protowire.AppendString(protowire.AppendTag(inner, 1, protowire.BytesType), "x")
	mid = protowire.AppendVarint(protowire.AppendTag(mid, 1, protowire.VarintType), 1)
	mid = protowire.AppendBytes(protowire.AppendTag(mid, 2, protowire.BytesType), inner)
	co = protowire.AppendBytes(protowire.AppendTag(co, 16, protowire.BytesType), mid)
	want.CustomOverlay.ProtoReflect().SetUnknown(co)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("seeded repo (-want +got):\n%s", diff)
	}
}
