package emulator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
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
	ctx := ctxT(t)

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
	// Entitlements apply: example-org may use certificates.
	jdk, err := os.ReadFile("../examples/ca-images-iac/jdk.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := overlay.Parse("jdk.yaml", jdk)
	if err != nil {
		t.Fatal(err)
	}
	cert := overlaypb.ToProto(overlay.Overlay{Certificates: withCert.Certificates})
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
	cert, err := os.ReadFile("../overlay/testdata/pem/internal-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	certYAML := "                  " + strings.ReplaceAll(strings.TrimSpace(string(cert)), "\n", "\n                  ") + "\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "orgs:\n  - name: a\n    colour: red\n",
			"decoding: yaml: unmarshal errors:\n  line 3: field colour not found in type emulator.SeedOrg"},
		{"unknown overlay key", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {apko_overlay: x}\n        custom_overlay:\n          entrypoint: {command: /bin/sh}\n",
			"orgs[0].repos[0]: custom_overlay: seed:7:11: entrypoint: not supported by Custom Assembly"},
		{"wrong type", "orgs: {name: a}\n",
			"decoding: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!map into []emulator.SeedOrg"},
		{"two documents", "orgs: []\n---\norgs: []\n", "more than one YAML document"},
		{"missing names", "orgs:\n  - repos:\n      - description: x\n",
			"orgs[0].name: is required\norgs[0].repos[0].name: is required"},
		{"duplicates", "orgs:\n  - name: a\n    repos: [{name: r}, {name: r}]\n  - name: a\n",
			"orgs[0].repos[1].name: \"r\" is also the name of orgs[0].repos[0]\norgs[1].name: \"a\" is also the name of orgs[0]"},
		{"bad id", "orgs:\n  - name: a\n    id: ABC\n", `orgs[0].id: "ABC" is not a root UIDP (40 lowercase hex digits)`},
		{"entitlement", "orgs:\n  - name: a\n    entitlements: [certificates, gpus]\n",
			`orgs[0].entitlements[1]: unknown entitlement "gpus" (known: certificates, runtime_repositories)`},
		{"tier", "orgs:\n  - name: a\n    repos: [{name: r, catalog_tier: GOLD}]\n",
			`orgs[0].repos[0]: catalog_tier: unknown tier "GOLD" (known: UNKNOWN, APPLICATION, BASE, FIPS, AI, DEVTOOLS, COMMERCIAL)`},
		{"expiration", "orgs:\n  - name: a\n    repos: [{name: r, sync_config: {expiration: tomorrow}}]\n",
			`orgs[0].repos[0]: sync_config.expiration: "tomorrow" is not an RFC 3339 time`},
		{"overlay on a repo that is not custom", "orgs:\n  - name: a\n    repos: [{name: r, custom_overlay: {environment: {A: '1'}}}]\n",
			"orgs[0].repos[0].custom_overlay: custom_overlay can only be set for custom images"},
		{"certificates without entitlement", "orgs:\n  - name: a\n    repos:\n      - name: r\n        sync_config: {apko_overlay: x}\n        custom_overlay:\n          certificates:\n            additional:\n              - name: ca\n                content: |\n" + certYAML,
			"orgs[0].repos[0].custom_overlay: using custom_overlay.certificates is not allowed"},
		{"empty names", "orgs:\n  - name: a\n    catalog: ['']\nslow_packages: ['']\nslow_repos: [' ']\n",
			"orgs[0].catalog[0]: empty package name\nslow_packages[0]: empty package name\nslow_repos[0]: empty repo name"},
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
	_, err = emulator.LoadSeed(filepath.Join(dir, "missing.yaml"))
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
