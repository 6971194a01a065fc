package emulator_test

import (
	"testing"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
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

// CreateRepo with sync_config.source makes a Custom Assembly repo from a
// repo of the organization or a catalog image it is entitled to, stores
// the source as a UIDP, completes sync_config, takes what a syncing repo
// inherits from the source, checks the overlay by the same rules as any
// write, and starts its builds.
func TestCreateRepoFromSource(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC))
	emu, c := startAndDial(t, emulator.Options{Now: clock.Now})
	reg := c.Registry().Registry()
	org := emu.CreateOrg("acme.example")
	other := emu.CreateOrg("other.example")
	if _, err := emu.SetSourceImages(org, "python", "go"); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.SetSourceImages(other, "mongodb"); err != nil {
		t.Fatal(err)
	}
	team, err := c.IAM().Groups().Create(t.Context(), &iamv1.CreateGroupRequest{Parent: org, Group: &iamv1.Group{Name: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	node := customRepo("node")
	node.CatalogTier = registryv1.CatalogTier_BASE
	nodeID := emu.CreateRepo(org, node).GetId()
	otherNode := emu.CreateRepo(other, customRepo("node")).GetId()
	emu.CreateRepo(team.GetId(), customRepo("dup"))
	teamTwo, err := c.IAM().Groups().Create(t.Context(), &iamv1.CreateGroupRequest{Parent: org, Group: &iamv1.Group{Name: "team-two"}})
	if err != nil {
		t.Fatal(err)
	}
	emu.CreateRepo(teamTwo.GetId(), customRepo("dup"))

	overlay := &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"curl"}}}
	fromNode := func(name string) *registryv1.Repo {
		return &registryv1.Repo{
			Name:        name,
			Description: "the node image", // inherited, as none is given
			CatalogTier: registryv1.CatalogTier_BASE,
			Bundles:     node.GetBundles(),
			Aliases:     node.GetAliases(),
			ActiveTags:  node.GetActiveTags(),
			SyncConfig: &registryv1.SyncConfig{
				Source:      nodeID,
				ApkoOverlay: "contents: {}",
				Expiration:  timestamppb.New(clock.Now().Add(14 * 24 * time.Hour)),
				Google:      "gcp/" + name,
			},
			CustomOverlay: overlay,
		}
	}
	fromCatalog := func(name, image string) *registryv1.Repo {
		return &registryv1.Repo{
			Name:       name,
			ActiveTags: []string{"latest"},
			SyncConfig: &registryv1.SyncConfig{
				Source:      emulator.SourceImageID(image),
				ApkoOverlay: "contents: {}",
				Expiration:  timestamppb.New(clock.Now().Add(14 * 24 * time.Hour)),
			},
			CustomOverlay: overlay,
		}
	}
	for _, tc := range []struct {
		name, parent, source string
		want                 *registryv1.Repo
	}{
		{"an org repo by name", org, "node", fromNode("custom-node")},
		{"an org repo by id", org, nodeID, fromNode("node-by-id")},
		{"an org repo by org/name", org, "acme.example/node", fromNode("node-by-org")},
		{"an org repo by reference", org, "cgr.dev/acme.example/node", fromNode("node-by-ref")},
		{"an org repo from another group", team.GetId(), "node", fromNode("team-node")},
		{"a catalog image by name", org, "python", fromCatalog("custom-python", "python")},
		{"a catalog image by catalog name", org, "chainguard/go", fromCatalog("custom-go", "go")},
		{"a catalog image by reference", org, "cgr.dev/chainguard/python", fromCatalog("python-by-ref", "python")},
		{"a catalog image by id", org, emulator.SourceImageID("go"), fromCatalog("go-by-id", "go")},
		{"the nearest of two by name", team.GetId(), "dup", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &registryv1.Repo{
				Name:          tc.name,
				SyncConfig:    &registryv1.SyncConfig{Source: tc.source, Google: "gcp/" + tc.name, ApkoOverlay: "ignored", UniqueTags: true},
				CustomOverlay: overlay,
			}
			if tc.want != nil {
				in.Name = tc.want.GetName()
				in.SyncConfig.Google = tc.want.GetSyncConfig().GetGoogle()
			}
			in.ProtoReflect().SetUnknown(unknownField(20, "kept"))
			got, err := reg.CreateRepo(t.Context(), &registryv1.CreateRepoRequest{ParentId: tc.parent, Repo: in, PreventExisting: true})
			if err != nil {
				t.Fatal(err)
			}
			if uidp.Parent(got.GetId()) != tc.parent {
				t.Errorf("created in %s, want %s", uidp.Parent(got.GetId()), tc.parent)
			}
			if tc.want == nil {
				if src := got.GetSyncConfig().GetSource(); uidp.Parent(src) != team.GetId() {
					t.Errorf("source %s is not the dup of the group the repo is created in", src)
				}
				return
			}
			want := proto.Clone(tc.want).(*registryv1.Repo)
			want.Id, want.CreateTime = got.GetId(), timestamppb.New(clock.Now())
			want.ProtoReflect().SetUnknown(unknownField(20, "kept"))
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("created (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, readRepo(t, c, got.GetId()), protocmp.Transform()); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
			if n, tags := len(emu.BuildReports(got.GetId())), len(want.GetActiveTags()); n != tags {
				t.Errorf("%d builds started, want %d (one per active tag)", n, tags)
			}
		})
	}

	for _, tc := range []struct {
		name string
		repo *registryv1.Repo
		code codes.Code
		msg  string
	}{
		{"another org's repo", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: otherNode}}, codes.PermissionDenied, `organization "acme.example" is not entitled to source repository "` + otherNode + `"`},
		{"a catalog image of another org", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "chainguard/mongodb"}}, codes.PermissionDenied, `organization "acme.example" is not entitled to source repository "chainguard/mongodb"`},
		{"its id", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: emulator.SourceImageID("mongodb")}}, codes.PermissionDenied, `organization "acme.example" is not entitled to source repository "` + emulator.SourceImageID("mongodb") + `"`},
		{"no such image", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/no-such-image"}}, codes.NotFound, `source repository "cgr.dev/chainguard/no-such-image" not found`},
		{"no such name", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "no-such-image"}}, codes.NotFound, `source repository "no-such-image" not found`},
		{"another org by name", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "other.example/node"}}, codes.NotFound, `source repository "other.example/node" not found`},
		{"no such id", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: org + "/0123456789abcdef"}}, codes.NotFound, `source repository "` + org + `/0123456789abcdef" not found`},
		{"ambiguous", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "dup"}}, codes.InvalidArgument, `source "dup" names 2 repos of organization "acme.example"; use the repo's id`},
		{"no source", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Google: "gcp/x"}}, codes.InvalidArgument, "sync_config.source is required"},
		{"the overlay's rules", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "node"}, CustomOverlay: &registryv1.CustomOverlay{Environment: map[string]string{"CHAINGUARD_X": "1"}}},
			codes.InvalidArgument, `custom_overlay.environment: environment variable "CHAINGUARD_X" uses reserved prefix "CHAINGUARD_"`},
		{"the org's entitlements", &registryv1.Repo{Name: "x", SyncConfig: &registryv1.SyncConfig{Source: "node"}, CustomOverlay: &registryv1.CustomOverlay{Certificates: &registryv1.CustomOverlay_Certificates{Providers: []string{"ca-certificates"}}}},
			codes.InvalidArgument, "using custom_overlay.certificates is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reg.CreateRepo(t.Context(), &registryv1.CreateRepoRequest{ParentId: org, Repo: tc.repo})
			wantStatus(t, err, tc.code, tc.msg)
		})
	}
	refused, err := reg.ListRepos(t.Context(), &registryv1.RepoFilter{Name: "x", Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil || len(refused.GetItems()) != 0 {
		t.Errorf("refused creates stored %v (%v)", refused.GetItems(), err)
	}

	// v2 takes the same sources and returns the source as a UIDP.
	got, err := reposV2(c).ReposService().CreateRepo(t.Context(), &registryv2.CreateRepoRequest{Parent: org, Repo: &registryv2.Repo{
		Name: "v2-python", SyncConfig: &registryv2.SyncConfig{Source: "cgr.dev/chainguard/python"},
		CustomOverlay: &registryv2.CustomOverlay{Environment: map[string]string{"A": "1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSyncConfig().GetSource() != emulator.SourceImageID("python") || got.GetSyncConfig().GetApkoOverlay() == "" || got.GetCustomOverlay().GetEnvironment()["A"] != "1" {
		t.Errorf("v2 created %v", got)
	}
}
