package emulator_test

import (
	"testing"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func TestGroupsCreateAndList(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	groups := c.IAM().Groups()
	ctx := t.Context()

	acme := emu.CreateOrg("acme.example")
	if !uidp.Valid(acme) || !uidp.InRoot(acme) {
		t.Fatalf("CreateOrg id %q is not a root UIDP", acme)
	}
	other, err := groups.Create(ctx, &iamv1.CreateGroupRequest{Group: &iamv1.Group{Name: "other.example", Description: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if !uidp.Valid(other.GetId()) || !uidp.InRoot(other.GetId()) || other.GetDescription() != "d" {
		t.Fatalf("Create root group = %v", other)
	}
	team, err := groups.Create(ctx, &iamv1.CreateGroupRequest{Parent: acme, Group: &iamv1.Group{Name: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	if uidp.Parent(team.GetId()) != acme {
		t.Fatalf("subgroup id %q is not a child of %q", team.GetId(), acme)
	}
	sub, err := groups.Create(ctx, &iamv1.CreateGroupRequest{Parent: "team", Group: &iamv1.Group{Name: "sub"}})
	if err != nil {
		t.Fatal(err)
	}
	if uidp.Parent(sub.GetId()) != team.GetId() {
		t.Fatalf("group created under parent name: id %q is not a child of %q", sub.GetId(), team.GetId())
	}

	names := func(f *iamv1.GroupFilter) []string {
		t.Helper()
		list, err := groups.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range list.GetItems() {
			out = append(out, g.GetName())
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		filter *iamv1.GroupFilter
		want   []string
	}{
		{"everything", &iamv1.GroupFilter{}, []string{"acme.example", "other.example", "sub", "team"}},
		{"by name", &iamv1.GroupFilter{Name: "acme.example"}, []string{"acme.example"}},
		{"by id", &iamv1.GroupFilter{Id: team.GetId()}, []string{"team"}},
		{"unknown name", &iamv1.GroupFilter{Name: "nope"}, nil},
		{"in root", &iamv1.GroupFilter{Uidp: &commonv1.UIDPFilter{InRoot: true}}, []string{"acme.example", "other.example"}},
		{"descendants", &iamv1.GroupFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: acme}}, []string{"sub", "team"}},
		{"children", &iamv1.GroupFilter{Uidp: &commonv1.UIDPFilter{ChildrenOf: acme}}, []string{"team"}},
		{"ancestors", &iamv1.GroupFilter{Uidp: &commonv1.UIDPFilter{AncestorsOf: sub.GetId()}}, []string{"acme.example", "team"}},
		{"ids", &iamv1.GroupFilter{Uidp: &commonv1.UIDPFilter{Ids: []string{acme, sub.GetId()}}}, []string{"acme.example", "sub"}},
		{"name and uidp", &iamv1.GroupFilter{Name: "team", Uidp: &commonv1.UIDPFilter{InRoot: true}}, nil},
	} {
		if diff := cmp.Diff(tc.want, names(tc.filter)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	_, err = groups.Create(ctx, &iamv1.CreateGroupRequest{Group: &iamv1.Group{}})
	wantStatus(t, err, codes.InvalidArgument, "group name is required")
	_, err = groups.Create(ctx, &iamv1.CreateGroupRequest{Parent: "nope", Group: &iamv1.Group{Name: "x"}})
	wantStatus(t, err, codes.NotFound, `group "nope" not found`)
	_, err = groups.Delete(ctx, &iamv1.DeleteGroupRequest{Id: team.GetId()})
	wantStatus(t, err, codes.Unimplemented, "method Delete not implemented")
}

// Names need not be unique; the daemon must tell them apart by id.
func TestGroupsDuplicateNames(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	a, b := emu.CreateOrg("same"), emu.CreateOrg("same")
	list, err := c.IAM().Groups().List(t.Context(), &iamv1.GroupFilter{Name: "same"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != 2 || a == b {
		t.Fatalf("List{Name: same} = %v, want the two orgs %s and %s", list.GetItems(), a, b)
	}
}
