package emulator_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func TestListReposFilters(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	ctx := t.Context()
	acme := emu.CreateOrg("acme.example")
	other := emu.CreateOrg("other.example")
	team, err := c.IAM().Groups().Create(ctx, &iamv1.CreateGroupRequest{Parent: acme, Group: &iamv1.Group{Name: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	nginx := emu.CreateRepo(acme, &registryv1.Repo{Name: "nginx"})
	python := emu.CreateRepo(acme, &registryv1.Repo{Name: "python"})
	teamNginx := emu.CreateRepo(team.GetId(), &registryv1.Repo{Name: "nginx"})
	otherNginx := emu.CreateRepo(other, &registryv1.Repo{Name: "nginx"})
	for _, r := range []*registryv1.Repo{nginx, python, otherNginx} {
		if uidp.Parent(r.GetId()) != uidp.Root(r.GetId()) || !uidp.Valid(r.GetId()) {
			t.Errorf("repo id %q is not a child UIDP of its org", r.GetId())
		}
	}
	if uidp.Parent(teamNginx.GetId()) != team.GetId() {
		t.Errorf("repo id %q is not a child of group %q", teamNginx.GetId(), team.GetId())
	}
	name := map[string]string{
		nginx.GetId(): "acme/nginx", python.GetId(): "acme/python",
		teamNginx.GetId(): "team/nginx", otherNginx.GetId(): "other/nginx",
	}
	list := func(f *registryv1.RepoFilter) []string {
		t.Helper()
		l, err := c.Registry().Registry().ListRepos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range l.GetItems() {
			out = append(out, name[r.GetId()])
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		name   string
		filter *registryv1.RepoFilter
		want   []string
	}{
		{"everything", &registryv1.RepoFilter{}, []string{"acme/nginx", "acme/python", "other/nginx", "team/nginx"}},
		{"descendants of org", &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: acme}}, []string{"acme/nginx", "acme/python", "team/nginx"}},
		{"children of org", &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{ChildrenOf: acme}}, []string{"acme/nginx", "acme/python"}},
		{"descendants of group", &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: team.GetId()}}, []string{"team/nginx"}},
		{"in root", &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{InRoot: true}}, nil},
		{"name", &registryv1.RepoFilter{Name: "nginx"}, []string{"acme/nginx", "other/nginx", "team/nginx"}},
		{"name is exact", &registryv1.RepoFilter{Name: "ngin"}, nil},
		{"id", &registryv1.RepoFilter{Id: python.GetId()}, []string{"acme/python"}},
		{"unknown id", &registryv1.RepoFilter{Id: acme + "/0000000000000000"}, nil},
		{"name and descendants", &registryv1.RepoFilter{Name: "nginx", Uidp: &commonv1.UIDPFilter{DescendantsOf: acme}}, []string{"acme/nginx", "team/nginx"}},
		{"name and children", &registryv1.RepoFilter{Name: "nginx", Uidp: &commonv1.UIDPFilter{ChildrenOf: acme}}, []string{"acme/nginx"}},
		{"id outside scope", &registryv1.RepoFilter{Id: otherNginx.GetId(), Uidp: &commonv1.UIDPFilter{DescendantsOf: acme}}, nil},
		{"ids", &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{Ids: []string{python.GetId(), otherNginx.GetId()}}}, []string{"acme/python", "other/nginx"}},
	} {
		if diff := cmp.Diff(tc.want, list(tc.filter)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestCreateRepoRPC(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{Now: clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)).Now})
	reg := c.Registry().Registry()
	ctx := t.Context()
	org := emu.CreateOrg("acme.example")

	created, err := reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{Name: "nginx", Description: "one", Id: "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	if uidp.Parent(created.GetId()) != org || created.GetDescription() != "one" || !created.GetCreateTime().AsTime().Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("created = %v", created)
	}
	// A name collision updates the existing repo, keeping its id...
	again, err := reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{Name: "nginx", Description: "two"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetId() != created.GetId() || again.GetDescription() != "two" {
		t.Errorf("create over existing = %v, want id %s description two", again, created.GetId())
	}
	// ...unless prevent_existing is set.
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{Name: "nginx"}, PreventExisting: true})
	wantStatus(t, err, codes.AlreadyExists, `repo "nginx" already exists in `+org)
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{}})
	wantStatus(t, err, codes.InvalidArgument, "repo name is required")
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: "nope", Repo: &registryv1.Repo{Name: "x"}})
	wantStatus(t, err, codes.NotFound, `group "nope" not found`)
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{
		Name: "plain", CustomOverlay: &registryv1.CustomOverlay{Environment: map[string]string{"A": "1"}},
	}})
	wantStatus(t, err, codes.InvalidArgument, "custom_overlay requires a sync_config")
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{
		Name: "plain", SyncConfig: &registryv1.SyncConfig{Source: "x"}, CustomOverlay: &registryv1.CustomOverlay{Environment: map[string]string{"A": "1"}},
	}})
	wantStatus(t, err, codes.NotFound, `source repository "x" not found`)
	_, err = reg.CreateRepo(ctx, &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{
		Name: "plain", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "set by the caller"},
	}})
	wantStatus(t, err, codes.InvalidArgument, "sync_config.source is required")

	if _, err := reg.DeleteRepo(ctx, &registryv1.DeleteRepoRequest{Id: created.GetId()}); err != nil {
		t.Fatal(err)
	}
	if emu.Repo(created.GetId()) != nil {
		t.Error("repo still there after DeleteRepo")
	}
	_, err = reg.DeleteRepo(ctx, &registryv1.DeleteRepoRequest{Id: created.GetId()})
	wantStatus(t, err, codes.NotFound, `repo "`+created.GetId()+`" not found`)
}

// UpdateRepo is a full PUT: what is sent is stored, fields left out are
// erased, and id and create_time stay the server's.
func TestUpdateRepoIsFullPut(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	reg := c.Registry().Registry()
	org := emu.CreateOrg("acme.example")
	base := customRepo("nginx")
	base.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"OLD": "1"}, Annotations: map[string]string{"a": "b"}}
	id := emu.CreateRepo(org, base).GetId()

	read := readRepo(t, c, id)
	if diff := cmp.Diff(emu.Repo(id), read, protocmp.Transform()); diff != "" {
		t.Fatalf("ListRepos differs from the store (-store +api):\n%s", diff)
	}

	// Send back only what a careless client keeps: the overlay's
	// environment, the id and the sync_config.
	next := &registryv1.Repo{
		Id:            id,
		Name:          "nginx",
		SyncConfig:    read.GetSyncConfig(),
		CustomOverlay: &registryv1.CustomOverlay{Environment: map[string]string{"NEW": "2"}},
		CreateTime:    timestamppb.New(time.Unix(0, 0)),
	}
	got, err := reg.UpdateRepo(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(next).(*registryv1.Repo)
	want.CreateTime = read.GetCreateTime()
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("UpdateRepo returned (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, readRepo(t, c, id), protocmp.Transform()); diff != "" {
		t.Errorf("stored after UpdateRepo (-want +got):\n%s", diff)
	}

	// A cleared overlay reads back as an empty message.
	next.CustomOverlay = nil
	if _, err := reg.UpdateRepo(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	if co := readRepo(t, c, id).GetCustomOverlay(); co == nil || proto.Size(co) != 0 {
		t.Errorf("cleared overlay reads back as %v, want an empty message", co)
	}

	// Copies are returned: changing one does not change the store.
	r := emu.Repo(id)
	r.Name = "changed"
	if emu.Repo(id).GetName() != "nginx" {
		t.Error("Repo returned the stored message, not a copy")
	}

	_, err = reg.UpdateRepo(t.Context(), &registryv1.Repo{Id: org + "/0123456789abcdef", Name: "x"})
	wantStatus(t, err, codes.NotFound, `repo "`+org+`/0123456789abcdef" not found`)
	_, err = reg.UpdateRepo(t.Context(), &registryv1.Repo{Name: "x"})
	wantStatus(t, err, codes.InvalidArgument, "repo id is required")
}

func TestUpdateRepoEnforcement(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	reg := c.Registry().Registry()
	plainOrg := emu.CreateOrg("plain.example")
	entitledOrg := emu.CreateOrg("entitled.example", emulator.EntitlementCertificates, emulator.EntitlementRuntimeRepositories)

	custom := emu.CreateRepo(plainOrg, customRepo("custom")).GetId()
	notCustom := emu.CreateRepo(plainOrg, &registryv1.Repo{Name: "static", Description: "no custom assembly"}).GetId()
	entitled := emu.CreateRepo(entitledOrg, customRepo("custom")).GetId()

	withOverlay := func(id string, co *registryv1.CustomOverlay) *registryv1.Repo {
		r := readRepo(t, c, id)
		r.CustomOverlay = co
		return r
	}
	certs := &registryv1.CustomOverlay{Certificates: &registryv1.CustomOverlay_Certificates{
		Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{{Name: "ca", Content: "x"}},
	}}
	runtimeRepos := &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{RuntimeRepositories: []string{"https://apk.example.com"}}}
	runtimeKeyring := &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{
		RuntimeKeyring: []*registryv1.ImageContents_RuntimeKeyringEntry{{Name: "k.rsa.pub", Content: "x"}},
	}}
	env := &registryv1.CustomOverlay{Environment: map[string]string{"A": "1"}}

	for _, tc := range []struct {
		name string
		repo *registryv1.Repo
		code codes.Code
		msg  string
	}{
		{"overlay on a repo that is not custom", withOverlay(notCustom, env), codes.PermissionDenied, "custom_overlay can only be set for custom images"},
		{"empty overlay on a repo that is not custom", withOverlay(notCustom, &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{}}), codes.OK, ""},
		{"certificates without entitlement", withOverlay(custom, certs), codes.InvalidArgument, "using custom_overlay.certificates is not allowed"},
		{"runtime repositories without entitlement", withOverlay(custom, runtimeRepos), codes.PermissionDenied, "using custom_overlay.contents.runtime_repositories is not allowed"},
		{"runtime keyring without entitlement", withOverlay(custom, runtimeKeyring), codes.PermissionDenied, "using custom_overlay.contents.runtime_keyring is not allowed"},
		{"environment", withOverlay(custom, env), codes.OK, ""},
		{"runtime repositories with entitlement", withOverlay(entitled, runtimeRepos), codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reg.UpdateRepo(t.Context(), tc.repo)
			wantStatus(t, err, tc.code, tc.msg)
		})
	}

	// sync_config is Chainguard's: it must come back exactly as read.
	changed := readRepo(t, c, custom)
	changed.SyncConfig.Expiration = timestamppb.New(changed.GetSyncConfig().GetExpiration().AsTime().Add(time.Nanosecond))
	_, err := reg.UpdateRepo(t.Context(), changed)
	wantStatus(t, err, codes.InvalidArgument, "sync_config cannot be changed")
	dropped := readRepo(t, c, custom)
	dropped.SyncConfig = nil
	_, err = reg.UpdateRepo(t.Context(), dropped)
	wantStatus(t, err, codes.InvalidArgument, "sync_config cannot be changed")
	enabled := readRepo(t, c, notCustom)
	enabled.SyncConfig = &registryv1.SyncConfig{ApkoOverlay: "contents: {}"}
	_, err = reg.UpdateRepo(t.Context(), enabled)
	wantStatus(t, err, codes.InvalidArgument, "sync_config cannot be changed")
}

// The field rules of the service, each with its code and message, on an
// organization that holds every entitlement.
func TestUpdateRepoFieldRules(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example", emulator.EntitlementCertificates, emulator.EntitlementRuntimeRepositories)
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	m := newPEM(t)
	repos := func(r ...string) *registryv1.CustomOverlay {
		return &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{RuntimeRepositories: r}}
	}
	key := func(name, content string) *registryv1.CustomOverlay {
		return &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{
			RuntimeKeyring: []*registryv1.ImageContents_RuntimeKeyringEntry{{Name: name, Content: content}},
		}}
	}
	cert := func(name, content string) *registryv1.CustomOverlay {
		return &registryv1.CustomOverlay{Certificates: &registryv1.CustomOverlay_Certificates{
			Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{{Name: name, Content: content}},
		}}
	}
	env := func(k string) *registryv1.CustomOverlay {
		return &registryv1.CustomOverlay{Environment: map[string]string{k: "1", "A": "1"}}
	}
	ann := func(k string) *registryv1.CustomOverlay {
		return &registryv1.CustomOverlay{Annotations: map[string]string{k: "x"}}
	}
	big := strings.Repeat("a", 50<<10) + "\n" + m.cert
	for _, tc := range []struct {
		name    string
		overlay *registryv1.CustomOverlay
		msg     string // "" when accepted
	}{
		{"packages are checked at build time", &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"no-such-thing"}}}, ""},
		{"https repository", repos("https://apk.example.com/chainguard", "@mirror https://mirror.example.com/x"), "custom_overlay.contents.runtime_repositories[1]: not an absolute URL"},
		{"plain http", repos("http://apk.example.com"), "custom_overlay.contents.runtime_repositories[0]: must use https"},
		{"duplicate", repos("https://apk.example.com", "https://apk.example.com"), "custom_overlay.contents.runtime_repositories[1]: duplicate repository"},
		{"localhost", repos("https://localhost:8443/apk"), `custom_overlay.contents.runtime_repositories[0]: host "localhost" is not allowed`},
		{"internal name", repos("https://apk.svc.cluster.local"), `custom_overlay.contents.runtime_repositories[0]: host "apk.svc.cluster.local" is an internal name`},
		{".internal", repos("https://mirror.corp.internal"), `custom_overlay.contents.runtime_repositories[0]: host "mirror.corp.internal" is an internal name`},
		{"loopback", repos("https://127.0.0.1/apk"), "custom_overlay.contents.runtime_repositories[0]: address 127.0.0.1 is not public"},
		{"RFC 1918", repos("https://10.1.2.3/apk"), "custom_overlay.contents.runtime_repositories[0]: address 10.1.2.3 is not public"},
		{"link-local", repos("https://[fe80::1]/apk"), "custom_overlay.contents.runtime_repositories[0]: address fe80::1 is not public"},
		{"public address", repos("https://203.0.113.7/apk"), ""},
		{"rsa key", key("corp.rsa.pub", m.rsaKey), ""},
		{"key with text before", key("corp.rsa.pub", "my key\n"+m.rsaKey), "custom_overlay.contents.runtime_keyring[0].content: must be exactly one PUBLIC KEY block with nothing before or after it"},
		{"key with text after", key("corp.rsa.pub", m.rsaKey+"trailer\n"), "custom_overlay.contents.runtime_keyring[0].content: must be exactly one PUBLIC KEY block with nothing before or after it"},
		{"two keys", key("corp.rsa.pub", m.rsaKey+m.rsaKey), "custom_overlay.contents.runtime_keyring[0].content: must be exactly one PUBLIC KEY block with nothing before or after it"},
		{"ec key", key("corp.pub", m.ecKey), "custom_overlay.contents.runtime_keyring[0].content: not an RSA public key"},
		{"certificate as key", key("corp.pub", m.cert), `custom_overlay.contents.runtime_keyring[0].content: PEM block "CERTIFICATE" is not a PUBLIC KEY`},
		{"no key", key("corp.pub", ""), "custom_overlay.contents.runtime_keyring[0].content: required"},
		{"key without a name", key("", m.rsaKey), "custom_overlay.contents.runtime_keyring[0].name: required"},
		{"dot name", key(".hidden", m.rsaKey), `custom_overlay.contents.runtime_keyring[0].name: must not start with "."`},
		{"path name", key("keys/corp.pub", m.rsaKey), "custom_overlay.contents.runtime_keyring[0].name: must not contain a path separator"},
		{"reserved name", key("Wolfi-signing.rsa.pub", m.rsaKey), `custom_overlay.contents.runtime_keyring[0].name: names starting with "wolfi" are reserved`},
		{"CHAINGUARD_", env("CHAINGUARD_TOKEN"), `custom_overlay.environment: environment variable "CHAINGUARD_TOKEN" uses reserved prefix "CHAINGUARD_"`},
		{"GUARDED_", env("GUARDED_MODE"), `custom_overlay.environment: environment variable "GUARDED_MODE" uses reserved prefix "GUARDED_"`},
		{"CHAINGUARD without underscore", env("CHAINGUARDIAN"), ""},
		{"dev.chainguard.", ann("dev.chainguard.package.main"), `custom_overlay.annotations: annotation key "dev.chainguard.package.main" uses reserved prefix "dev.chainguard."`},
		{"org.opencontainers.", ann("org.opencontainers.image.title"), `custom_overlay.annotations: annotation key "org.opencontainers.image.title" uses reserved prefix "org.opencontainers."`},
		{"org.opencontainersx", ann("org.opencontainersx.title"), ""},
		{"certificate", cert("ca", m.cert), ""},
		{"certificate with text before", cert("ca", "Our internal CA\n"+m.cert), ""},
		{"certificate without a name", cert("", m.cert), "custom_overlay.certificates.additional[0].name: required"},
		{"no certificate", cert("ca", ""), "custom_overlay.certificates.additional[0].content: required"},
		{"two certificates", cert("ca", m.cert+m.cert), "custom_overlay.certificates.additional[0].content: must hold exactly one PEM certificate, found 2"},
		{"not PEM", cert("ca", "just text"), "custom_overlay.certificates.additional[0].content: must hold exactly one PEM certificate, found 0"},
		{"private key", cert("ca", m.cert+m.privateKey), "custom_overlay.certificates.additional[0].content: private keys are not allowed"},
		{"public key as certificate", cert("ca", m.rsaKey), `custom_overlay.certificates.additional[0].content: PEM block "PUBLIC KEY" is not a CERTIFICATE`},
		{"broken certificate", cert("ca", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "custom_overlay.certificates.additional[0].content: not a valid X.509 certificate"},
		{"over 50 KB", cert("ca", big), fmt.Sprintf("custom_overlay.certificates.additional: %d bytes of certificates, more than the limit of 50 KB", len(big))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readRepo(t, c, id)
			r.CustomOverlay = tc.overlay
			_, err := c.Registry().Registry().UpdateRepo(t.Context(), r)
			if tc.msg == "" {
				wantStatus(t, err, codes.OK, "")
			} else {
				wantStatus(t, err, codes.InvalidArgument, tc.msg)
			}
		})
	}
}

func TestConsoleEdit(t *testing.T) {
	emu, _ := start(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	if err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{Environment: map[string]string{"BY": "hand"}}); err != nil {
		t.Fatal(err)
	}
	if got := emu.Repo(id).GetCustomOverlay().GetEnvironment()["BY"]; got != "hand" {
		t.Errorf("environment after ConsoleEdit = %q", got)
	}
	if n := len(emu.BuildReports(id)); n != 2 {
		t.Errorf("ConsoleEdit started %d builds, want 2 (one per active tag)", n)
	}
	err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{RuntimeRepositories: []string{"https://x.example"}}})
	wantStatus(t, err, codes.PermissionDenied, "using custom_overlay.contents.runtime_repositories is not allowed")
}
