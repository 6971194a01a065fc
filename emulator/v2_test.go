package emulator_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

const (
	v2UpdateRepo = "/chainguard.platform.registry.v2.ReposService/UpdateRepo"
	v2GetRepo    = "/chainguard.platform.registry.v2.ReposService/GetRepo"
)

// fullRepo is a Custom Assembly repo whose overlay sets every section.
func fullRepo(name string, m pemMaterial) *registryv1.Repo {
	r := customRepo(name)
	gid := uint32(0)
	r.CustomOverlay = &registryv1.CustomOverlay{
		Contents: &registryv1.ImageContents{
			Packages:            []string{"curl", "jq"},
			RuntimeRepositories: []string{"https://apk.example.com/x"},
			RuntimeKeyring:      []*registryv1.ImageContents_RuntimeKeyringEntry{{Name: "k.rsa.pub", Content: m.rsaKey}},
		},
		Environment: map[string]string{"APP_ENV": "prod"},
		Annotations: map[string]string{"com.example.team": "web"},
		Accounts: &registryv1.ApkoConfig_Accounts{
			RunAs: "app",
			Users: []*registryv1.ApkoConfig_Accounts_User{
				{UserName: "app", Uid: 1000, Gid: &gid, GroupName: "app", Shell: "/bin/sh", HomeDir: "/home/app"},
				{UserName: "other", Uid: 1001},
			},
			Groups: []*registryv1.ApkoConfig_Accounts_Group{{GroupName: "app", Gid: 1000, Members: []string{"app"}}},
		},
		Certificates: &registryv1.CustomOverlay_Certificates{
			Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{{Name: "ca", Content: m.cert}},
			Providers:  []string{"ca-certificates"},
		},
	}
	return r
}

// v2 reads the same store as v1, field by field, under v2's names and
// numbers.
func TestV2ReadsTheV1Store(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	emu, c := startAndDial(t, emulator.Options{Now: clock.Now})
	org := emu.CreateOrg("acme.example")
	m := newPEM(t)
	id := emu.CreateRepo(org, fullRepo("nginx", m)).GetId()

	got, err := reposV2(c).ReposService().GetRepo(t.Context(), &registryv2.GetRepoRequest{Uid: id})
	if err != nil {
		t.Fatal(err)
	}
	created := timestamppb.New(clock.Now())
	want := &registryv2.Repo{
		Uid:         id,
		Name:        "nginx",
		Description: "the nginx image",
		CatalogTier: registryv2.CatalogTier_CATALOG_TIER_APPLICATION,
		Bundles:     []string{"application", "featured"},
		Aliases:     []string{"nginx-alias"},
		ActiveTags:  []string{"latest", "1.2"},
		SyncConfig: &registryv2.SyncConfig{
			Source:         "cgr.dev/chainguard/nginx",
			UniqueTags:     true,
			ExpirationTime: timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)),
			Google:         "gcp/nginx",
			Amazon:         "aws/nginx",
			Azure:          "azure/nginx",
			ApkoOverlay:    "contents: {}",
			GracePeriod:    true,
		},
		CustomOverlay: &registryv2.CustomOverlay{
			Contents: &registryv2.CustomOverlay_ImageContents{
				Packages:            []string{"curl", "jq"},
				RuntimeRepositories: []string{"https://apk.example.com/x"},
				RuntimeKeyring:      []*registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{{Name: "k.rsa.pub", Content: m.rsaKey}},
			},
			Environment: map[string]string{"APP_ENV": "prod"},
			Annotations: map[string]string{"com.example.team": "web"},
			Accounts: &registryv2.CustomOverlay_Accounts{
				RunAs: "app",
				Users: []*registryv2.CustomOverlay_Accounts_User{
					{Username: "app", Uid: 1000, GroupName: "app", Shell: "/bin/sh", HomeDir: "/home/app"},
					{Username: "other", Uid: 1001},
				},
				Groups: []*registryv2.CustomOverlay_Accounts_Group{{Groupname: "app", Gid: 1000, Members: []string{"app"}}},
			},
			Certificates: &registryv2.CustomOverlay_Certificates{
				Additional: []*registryv2.CustomOverlay_Certificates_AdditionalEntry{{Name: "ca", Content: m.cert}},
				Providers:  []string{"ca-certificates"},
			},
		},
		CreateTime: created,
		UpdateTime: created,
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetRepo (-want +got):\n%s", diff)
	}
	list, err := reposV2(c).ReposService().ListRepos(t.Context(), &registryv2.ListReposRequest{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*registryv2.Repo{want}, list.GetRepos(), protocmp.Transform()); diff != "" {
		t.Errorf("ListRepos (-want +got):\n%s", diff)
	}
	_, err = reposV2(c).ReposService().GetRepo(t.Context(), &registryv2.GetRepoRequest{Uid: org + "/0123456789abcdef"})
	wantStatus(t, err, codes.NotFound, `repo "`+org+`/0123456789abcdef" not found`)
}

// A v2 PATCH changes only the masked fields of the stored v1 message and
// keeps everything else, the fields v2 cannot name (readme) and the v1
// unknown fields included, then builds like any write.
func TestV2PatchKeepsEverythingElse(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example", emulator.EntitlementCertificates, emulator.EntitlementRuntimeRepositories)
	in := fullRepo("nginx", newPEM(t))
	in.ProtoReflect().SetUnknown(unknownField(20, "tag-scoped"))
	in.CustomOverlay.ProtoReflect().SetUnknown(unknownField(16, "guarded entrypoint"))
	in.CustomOverlay.Contents.ProtoReflect().SetUnknown(unknownField(9, "contents extra"))
	id := emu.CreateRepo(org, in).GetId()
	before := emu.Repo(id)

	// What a client that owns the packages and the environment sends: the
	// fields it owns, nothing else, and a mask of exactly those.
	got, err := reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{
		Repo: &registryv2.Repo{Uid: id, CustomOverlay: &registryv2.CustomOverlay{
			Contents:    &registryv2.CustomOverlay_ImageContents{Packages: []string{"wget"}},
			Environment: map[string]string{"NEW": "1"},
		}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"custom_overlay.contents.packages", "custom_overlay.environment"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(before).(*registryv1.Repo)
	want.CustomOverlay.Contents.Packages = []string{"wget"}
	want.CustomOverlay.Environment = map[string]string{"NEW": "1"}
	after := emu.Repo(id)
	if diff := cmp.Diff(want, after, protocmp.Transform()); diff != "" {
		t.Errorf("stored after the PATCH (-want +got):\n%s", diff)
	}
	sameUnknown(t, "after the PATCH", want, readRepo(t, c, id))
	if got.GetCustomOverlay().GetContents().GetPackages()[0] != "wget" || got.GetCustomOverlay().GetAnnotations()["com.example.team"] != "web" {
		t.Errorf("UpdateRepo answered %v", got)
	}
	if n := len(emu.BuildReports(id)); n != 2 {
		t.Errorf("the PATCH started %d builds, want one per active tag", n)
	}
}

func TestV2PatchMasks(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example", emulator.EntitlementCertificates, emulator.EntitlementRuntimeRepositories)
	ids := map[string]string{}
	m := newPEM(t)
	repo := func(name string) string {
		r := fullRepo(name, m)
		r.Readme = "# " + name
		ids[name] = emu.CreateRepo(org, r).GetId()
		return ids[name]
	}
	plain := emu.CreateRepo(org, &registryv1.Repo{Name: "plain", Description: "no source"}).GetId()
	mask := func(p ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: p} }
	for _, tc := range []struct {
		name   string
		req    func(id string) *registryv2.UpdateRepoRequest
		change func(r *registryv1.Repo) // of the stored v1 repo; nil: refused
		code   codes.Code
		msg    string
	}{
		{
			name: "implied mask: the populated leaves only",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, CustomOverlay: &registryv2.CustomOverlay{
					Accounts: &registryv2.CustomOverlay_Accounts{RunAs: "65532"},
				}}}
			},
			change: func(r *registryv1.Repo) { r.CustomOverlay.Accounts.RunAs = "65532" },
		},
		{
			name: "a whole message",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, CustomOverlay: &registryv2.CustomOverlay{
					Accounts: &registryv2.CustomOverlay_Accounts{RunAs: "65532"},
				}}, UpdateMask: mask("custom_overlay.accounts")}
			},
			change: func(r *registryv1.Repo) { r.CustomOverlay.Accounts = &registryv1.ApkoConfig_Accounts{RunAs: "65532"} },
		},
		{
			name: "a masked field the request leaves unset is cleared",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("custom_overlay.certificates", "description")}
			},
			change: func(r *registryv1.Repo) { r.CustomOverlay.Certificates, r.Description = nil, "" },
		},
		{
			name: "clearing the overlay leaves the empty overlay",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("custom_overlay")}
			},
			change: func(r *registryv1.Repo) { r.CustomOverlay = &registryv1.CustomOverlay{} },
		},
		{
			name: "output-only fields are ignored",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, CreateTime: timestamppb.New(time.Unix(0, 0)), SyncConfig: &registryv2.SyncConfig{ApkoOverlay: "changed"}},
					UpdateMask: mask("create_time", "update_time", "sync_config.apko_overlay", "uid")}
			},
			change: func(*registryv1.Repo) {},
		},
		{
			name: "sync_config: only what the caller may set",
			req: func(id string) *registryv2.UpdateRepoRequest {
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, SyncConfig: &registryv2.SyncConfig{
					Source: emu.Repo(id).GetSyncConfig().GetSource(), Google: "gcp/new", ApkoOverlay: "ignored", GracePeriod: false,
				}}, UpdateMask: mask("sync_config")}
			},
			change: func(r *registryv1.Repo) {
				r.SyncConfig.Google, r.SyncConfig.Amazon, r.SyncConfig.Azure = "gcp/new", "", ""
			},
		},
		{
			name: "* replaces every field v2 can set and keeps what it cannot name",
			req: func(id string) *registryv2.UpdateRepoRequest {
				r := emu.Repo(id)
				return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{
					Uid: id, Name: "renamed", CatalogTier: registryv2.CatalogTier_CATALOG_TIER_APPLICATION,
					Bundles: r.GetBundles(), Aliases: r.GetAliases(), ActiveTags: r.GetActiveTags(),
					SyncConfig:    &registryv2.SyncConfig{Source: r.GetSyncConfig().GetSource()},
					CustomOverlay: &registryv2.CustomOverlay{Environment: map[string]string{"ONLY": "this"}},
				}, UpdateMask: mask("*")}
			},
			change: func(r *registryv1.Repo) {
				r.Name, r.Description = "renamed", ""
				r.SyncConfig.Google, r.SyncConfig.Amazon, r.SyncConfig.Azure = "", "", ""
				r.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"ONLY": "this"}}
			},
		},
		{"unknown path", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("custom_overlay.contents.pakages")}
		}, nil, codes.InvalidArgument, `update_mask: unknown path "custom_overlay.contents.pakages" (chainguard.platform.registry.v2.CustomOverlay.ImageContents has no field "pakages")`},
		{"readme is not v2's", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("readme")}
		}, nil, codes.InvalidArgument, `update_mask: unknown path "readme" (chainguard.platform.registry.v2.Repo has no field "readme")`},
		{"into a map", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("custom_overlay.environment.FOO")}
		}, nil, codes.InvalidArgument, `update_mask: path "custom_overlay.environment.FOO" goes inside custom_overlay.environment, which is not a message`},
		{"* and more", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("*", "name")}
		}, nil, codes.InvalidArgument, `update_mask: "*" must be the only path`},
		{"inherited from the source", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, ActiveTags: []string{"latest"}}, UpdateMask: mask("active_tags")}
		}, nil, codes.InvalidArgument, "active_tags is inherited from the source repository and cannot be changed"},
		{"the source", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, SyncConfig: &registryv2.SyncConfig{Source: "cgr.dev/chainguard/other"}}, UpdateMask: mask("sync_config.source")}
		}, nil, codes.InvalidArgument, "sync_config.source cannot be changed"},
		{"no name", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id}, UpdateMask: mask("name")}
		}, nil, codes.InvalidArgument, "repo name is required"},
		{"the same rules as v1", func(id string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, CustomOverlay: &registryv2.CustomOverlay{Environment: map[string]string{"GUARDED_X": "1"}}}}
		}, nil, codes.InvalidArgument, `custom_overlay.environment: environment variable "GUARDED_X" uses reserved prefix "GUARDED_"`},
		{"no uid", func(string) *registryv2.UpdateRepoRequest {
			return &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Name: "x"}}
		}, nil, codes.InvalidArgument, "repo.uid is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := repo(fmt.Sprintf("r%d", len(ids)))
			before := emu.Repo(id)
			_, err := reposV2(c).ReposService().UpdateRepo(t.Context(), tc.req(id))
			wantStatus(t, err, tc.code, tc.msg)
			want := proto.Clone(before).(*registryv1.Repo)
			if tc.change != nil {
				tc.change(want)
			}
			if diff := cmp.Diff(want, emu.Repo(id), protocmp.Transform()); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
		})
	}

	// A repo that is not Custom Assembly refuses an overlay, as in v1.
	_, err := reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{
		Repo: &registryv2.Repo{Uid: plain, CustomOverlay: &registryv2.CustomOverlay{Environment: map[string]string{"A": "1"}}},
	})
	wantStatus(t, err, codes.PermissionDenied, "custom_overlay can only be set for custom images")
	// Its own fields are its owner's to change.
	if _, err := reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{
		Repo: &registryv2.Repo{Uid: plain, Bundles: []string{"base"}}, UpdateMask: mask("bundles"),
	}); err != nil {
		t.Errorf("bundles of a repo without a source: %v", err)
	}
	_, err = reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: org + "/0123456789abcdef", Name: "x"}})
	wantStatus(t, err, codes.NotFound, `repo "`+org+`/0123456789abcdef" not found`)
}

// v2 keeps the unknown fields it is sent, for v2 reads; each version reads
// its own, and a write through one never drops the other's while the
// message that holds them exists.
func TestV2UnknownFields(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	in := &registryv2.Repo{Name: "nginx", CustomOverlay: &registryv2.CustomOverlay{Environment: map[string]string{"A": "1"}}}
	in.ProtoReflect().SetUnknown(unknownField(30, "v2 repo field"))
	in.CustomOverlay.ProtoReflect().SetUnknown(unknownField(30, "v2 overlay field"))
	// A repo created by the API needs a sync_config to take an overlay.
	_, err := reposV2(c).ReposService().CreateRepo(t.Context(), &registryv2.CreateRepoRequest{Parent: org, Repo: in})
	wantStatus(t, err, codes.InvalidArgument, "custom_overlay requires a sync_config")
	in.CustomOverlay.Environment = nil
	created, err := reposV2(c).ReposService().CreateRepo(t.Context(), &registryv2.CreateRepoRequest{Parent: org, Repo: in})
	wantStatus(t, err, codes.InvalidArgument, "custom_overlay requires a sync_config") // its unknown fields are an overlay
	in.CustomOverlay = nil
	created, err = reposV2(c).ReposService().CreateRepo(t.Context(), &registryv2.CreateRepoRequest{Parent: org, Repo: in})
	if err != nil {
		t.Fatal(err)
	}
	if uidp.Parent(created.GetUid()) != org || string(created.ProtoReflect().GetUnknown()) != string(unknownField(30, "v2 repo field")) {
		t.Errorf("created = %v", created)
	}
	_, err = reposV2(c).ReposService().CreateRepo(t.Context(), &registryv2.CreateRepoRequest{Parent: org, Repo: &registryv2.Repo{Name: "nginx"}})
	wantStatus(t, err, codes.AlreadyExists, `repo "nginx" already exists in `+org)

	// The v1 view has neither: its numbers mean something else there.
	v1 := readRepo(t, c, created.GetUid())
	if len(v1.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("v1 shows v2's unknown fields: %x", v1.ProtoReflect().GetUnknown())
	}
	// A v1 PUT with its own unknown field keeps v2's.
	v1.Description = "by v1"
	v1.ProtoReflect().SetUnknown(unknownField(20, "v1 repo field"))
	if _, err := c.Registry().Registry().UpdateRepo(t.Context(), v1); err != nil {
		t.Fatal(err)
	}
	got, err := reposV2(c).ReposService().GetRepo(t.Context(), &registryv2.GetRepoRequest{Uid: created.GetUid()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetDescription() != "by v1" || string(got.ProtoReflect().GetUnknown()) != string(unknownField(30, "v2 repo field")) {
		t.Errorf("v2 after a v1 PUT = %v (unknown %x)", got, got.ProtoReflect().GetUnknown())
	}
	// A PATCH whose implied mask carries repo-level unknown fields replaces
	// them; v1's stay.
	next := &registryv2.Repo{Uid: created.GetUid(), Description: "by v2"}
	next.ProtoReflect().SetUnknown(unknownField(31, "newer"))
	got, err = reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{Repo: next})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.ProtoReflect().GetUnknown()) != string(unknownField(31, "newer")) {
		t.Errorf("v2 unknown after the PATCH = %x", got.ProtoReflect().GetUnknown())
	}
	if u := emu.Repo(created.GetUid()).ProtoReflect().GetUnknown(); string(u) != string(unknownField(20, "v1 repo field")) {
		t.Errorf("v1 unknown after a v2 PATCH = %x", u)
	}
	// An explicit mask that does not name the repo itself leaves them.
	next.ProtoReflect().SetUnknown(unknownField(32, "not masked"))
	got, err = reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{Repo: next, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.ProtoReflect().GetUnknown()) != string(unknownField(31, "newer")) {
		t.Errorf("v2 unknown after a PATCH that does not mask them = %x", got.ProtoReflect().GetUnknown())
	}

	if _, err := reposV2(c).ReposService().DeleteRepo(t.Context(), &registryv2.DeleteRepoRequest{Uid: created.GetUid()}); err != nil {
		t.Fatal(err)
	}
	_, err = reposV2(c).ReposService().DeleteRepo(t.Context(), &registryv2.DeleteRepoRequest{Uid: created.GetUid()})
	wantStatus(t, err, codes.NotFound, `repo "`+created.GetUid()+`" not found`)
}

// ListRepos pages as repos.proto documents: 50 by default, at most 200,
// ordered by uid unless order_by says otherwise, with a cursor that only
// works for the same filter and order.
func TestV2ListReposPages(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	v2 := reposV2(c)
	org := emu.CreateOrg("acme.example")
	other := emu.CreateOrg("other.example")
	emu.CreateRepo(other, &registryv1.Repo{Name: "elsewhere"})
	var uids, names []string
	for i := range 250 {
		r := emu.CreateRepo(org, &registryv1.Repo{Name: fmt.Sprintf("repo-%03d", (i*7)%250)})
		uids, names = append(uids, r.GetId()), append(names, r.GetName())
	}
	slices.Sort(uids)
	slices.Sort(names)
	scope := &commonv1.UIDPFilter{DescendantsOf: org}
	list := func(req *registryv2.ListReposRequest) *registryv2.ListReposResponse {
		t.Helper()
		resp, err := v2.ReposService().ListRepos(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	uidsOf := func(rs []*registryv2.Repo) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.GetUid())
		}
		return out
	}

	first := list(&registryv2.ListReposRequest{Uidp: scope})
	if diff := cmp.Diff(uids[:50], uidsOf(first.GetRepos())); diff != "" {
		t.Errorf("default page (-want +got):\n%s", diff)
	}
	if first.GetTotalCount() != 250 || first.GetNextPageToken() == "" || first.GetSkipped() != 0 {
		t.Errorf("total %d, token %q, skipped %d", first.GetTotalCount(), first.GetNextPageToken(), first.GetSkipped())
	}
	if n := len(list(&registryv2.ListReposRequest{Uidp: scope, PageSize: 1000}).GetRepos()); n != 200 {
		t.Errorf("page_size 1000 gave %d, want the maximum 200", n)
	}
	// Every page, with the SDK's own pagination helper.
	all, err := v2.ListReposAll(t.Context(), &registryv2.ListReposRequest{Uidp: scope, PageSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(uids, uidsOf(all)); diff != "" {
		t.Errorf("every page (-want +got):\n%s", diff)
	}
	byName, err := v2.ListReposAll(t.Context(), &registryv2.ListReposRequest{Uidp: scope, OrderBy: "name desc", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, r := range byName {
		gotNames = append(gotNames, r.GetName())
	}
	slices.Reverse(names)
	if diff := cmp.Diff(names, gotNames); diff != "" {
		t.Errorf("name desc (-want +got):\n%s", diff)
	}
	// skip, from the cursor; skipped accumulates.
	skipped := list(&registryv2.ListReposRequest{Uidp: scope, PageSize: 10, Skip: 5})
	if diff := cmp.Diff(uids[5:15], uidsOf(skipped.GetRepos())); diff != "" {
		t.Errorf("skip 5 (-want +got):\n%s", diff)
	}
	again := list(&registryv2.ListReposRequest{Uidp: scope, PageSize: 10, Skip: 5, PageToken: skipped.GetNextPageToken()})
	if diff := cmp.Diff(uids[20:30], uidsOf(again.GetRepos())); diff != "" || again.GetSkipped() != 10 {
		t.Errorf("skip 5 again (-want +got):\n%s (skipped %d)", diff, again.GetSkipped())
	}
	// Filters.
	one := list(&registryv2.ListReposRequest{Name: proto.String("repo-007")})
	if len(one.GetRepos()) != 1 || one.GetRepos()[0].GetName() != "repo-007" || one.GetNextPageToken() != "" {
		t.Errorf("name filter = %v", one.GetRepos())
	}
	if n := list(&registryv2.ListReposRequest{Uidp: &commonv1.UIDPFilter{DescendantsOf: other}}).GetTotalCount(); n != 1 {
		t.Errorf("other org has %d repos, want 1", n)
	}

	for _, tc := range []struct {
		name string
		req  *registryv2.ListReposRequest
		msg  string
	}{
		{"token of another order", &registryv2.ListReposRequest{Uidp: scope, OrderBy: "name", PageToken: first.GetNextPageToken()}, "invalid page_token: it does not belong to this filter and order_by"},
		{"garbage token", &registryv2.ListReposRequest{Uidp: scope, PageToken: "!!"}, "invalid page_token: it does not belong to this filter and order_by"},
		{"negative page size", &registryv2.ListReposRequest{PageSize: -1}, "page_size must not be negative"},
		{"negative skip", &registryv2.ListReposRequest{Skip: -1}, "skip must not be negative"},
		{"unknown order", &registryv2.ListReposRequest{OrderBy: "size"}, `order_by: unknown field "size" (known: uid, name, create_time, update_time)`},
		{"bad direction", &registryv2.ListReposRequest{OrderBy: "name up"}, `order_by: want "field [asc|desc]", got "name up"`},
	} {
		_, err := v2.ReposService().ListRepos(t.Context(), tc.req)
		if tc.msg == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { wantStatus(t, err, codes.InvalidArgument, tc.msg) })
	}
}

func TestV2CanBeTurnedOff(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{DisableRegistryV2: true})
	id := emu.CreateRepo(emu.CreateOrg("acme.example"), customRepo("nginx")).GetId()
	_, err := reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, Description: "x"}})
	wantStatus(t, err, codes.Unimplemented, "unknown service chainguard.platform.registry.v2.ReposService")
	if emu.Repo(id).GetDescription() == "x" {
		t.Error("a refused v2 call changed the repo")
	}
	emu.SetRegistryV2(true)
	if _, err := reposV2(c).ReposService().GetRepo(t.Context(), &registryv2.GetRepoRequest{Uid: id}); err != nil {
		t.Errorf("after SetRegistryV2(true): %v", err)
	}
	// The seed turns it off too.
	off := false
	if err := emu.ApplySeed(emulator.Seed{RegistryV2: &off}); err != nil {
		t.Fatal(err)
	}
	_, err = reposV2(c).ReposService().GetRepo(t.Context(), &registryv2.GetRepoRequest{Uid: id})
	wantStatus(t, err, codes.Unimplemented, "unknown service chainguard.platform.registry.v2.ReposService")
	want := map[string]int{v2UpdateRepo + " Unimplemented": 1, v2GetRepo + " OK": 1, v2GetRepo + " Unimplemented": 1}
	if diff := cmp.Diff(want, emu.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}
