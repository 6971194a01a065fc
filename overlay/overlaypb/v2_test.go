package overlaypb

import (
	"path/filepath"
	"testing"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func TestCoveredPathsV2AreValidPaths(t *testing.T) {
	if _, err := fieldmaskpb.New(&registryv2.Repo{}, CoveredPathsV2()...); err != nil {
		t.Fatalf("CoveredPathsV2 is not a valid mask of registry v2 Repo: %v", err)
	}
}

// Every field of the v2 CustomOverlay is a path the mask covers, except the
// sections themselves: a new field in the SDK would show up here.
func TestCoveredPathsV2CoverEveryKnownField(t *testing.T) {
	var leaves []string
	var walk func(prefix string, md protoreflect.MessageDescriptor)
	walk = func(prefix string, md protoreflect.MessageDescriptor) {
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			path := prefix + string(fd.Name())
			if fd.Message() != nil && !fd.IsList() && !fd.IsMap() {
				walk(path+".", fd.Message())
				continue
			}
			leaves = append(leaves, path)
		}
	}
	walk("custom_overlay.", (&registryv2.CustomOverlay{}).ProtoReflect().Descriptor())
	if diff := cmp.Diff(CoveredPathsV2(), leaves); diff != "" {
		t.Errorf("CoveredPathsV2 (-mask +every leaf of CustomOverlay):\n%s", diff)
	}
}

func TestCheckV2(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    overlay.Overlay
		err  string
	}{
		{name: "no accounts", o: overlay.Overlay{Packages: []string{"a"}}},
		{name: "ids that fit", o: overlay.Overlay{Accounts: overlay.Accounts{
			Users:  []overlay.User{{UserName: "u", UID: 2147483647, GID: gid(2147483647)}},
			Groups: []overlay.Group{{GroupName: "g", GID: 0}}}}},
		{name: "no gid", o: overlay.Overlay{Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u", UID: 1, GID: gid(1)}, {UserName: "v", UID: 2}}}},
			err: "accounts.users[1] has no gid, which registry v2 cannot tell from gid 0"},
		{name: "gid 0", o: overlay.Overlay{Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u", UID: 1, GID: gid(0)}}}},
			err: "accounts.users[0].gid 0 reads back from registry v2 as no gid"},
		{name: "big uid", o: overlay.Overlay{Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u", UID: 2147483648, GID: gid(1)}}}},
			err: "accounts.users[0].uid 2147483648 does not fit registry v2's int32"},
		{name: "big user gid", o: overlay.Overlay{Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u", UID: 1, GID: gid(4294967295)}}}},
			err: "accounts.users[0].gid 4294967295 does not fit registry v2's int32"},
		{name: "big group gid", o: overlay.Overlay{Accounts: overlay.Accounts{Groups: []overlay.Group{{GroupName: "g", GID: 2147483648}}}},
			err: "accounts.groups[0].gid 2147483648 does not fit registry v2's int32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := CheckV2(tc.o); err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("CheckV2 = %q, want %q", got, tc.err)
			}
		})
	}
}

func TestV2RoundTripOfGoodFiles(t *testing.T) {
	n := 0
	for file, data := range testdata(t, "good/*.yaml") {
		o, err := overlay.Parse(file, data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if CheckV2(o) != nil {
			continue
		}
		n++
		t.Run(filepath.Base(file), func(t *testing.T) {
			if diff := cmp.Diff(overlay.Canonical(o), overlay.Canonical(FromProtoV2(overWire(t, ToProtoV2(o))))); diff != "" {
				t.Errorf("v2 round trip (-want +got):\n%s", diff)
			}
		})
	}
	if n == 0 {
		t.Fatal("no good file is expressible in v2")
	}
}

func TestApplyV2KeepsEntryUnknownFields(t *testing.T) {
	live := &registryv2.CustomOverlay{
		Contents: &registryv2.CustomOverlay_ImageContents{RuntimeKeyring: []*registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{
			withUnknown(&registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{Name: "k"}, raw(9, "key-extra"))}},
		Accounts: &registryv2.CustomOverlay_Accounts{
			Users:  []*registryv2.CustomOverlay_Accounts_User{withUnknown(&registryv2.CustomOverlay_Accounts_User{Username: "app"}, raw(9, "user-extra"))},
			Groups: []*registryv2.CustomOverlay_Accounts_Group{withUnknown(&registryv2.CustomOverlay_Accounts_Group{Groupname: "app"}, raw(9, "group-extra"))},
		},
		Certificates: &registryv2.CustomOverlay_Certificates{Additional: []*registryv2.CustomOverlay_Certificates_AdditionalEntry{
			withUnknown(&registryv2.CustomOverlay_Certificates_AdditionalEntry{Name: "ca"}, raw(9, "cert-extra"))}},
	}
	live.ProtoReflect().SetUnknown(raw(20, "guarded_entrypoint"))
	o := overlay.Overlay{
		RuntimeKeyring: []overlay.NamedContent{{Name: "k", Content: "K2"}},
		Accounts: overlay.Accounts{
			Users:  []overlay.User{{UserName: "app", UID: 1000, GID: gid(1000)}, {UserName: "new", UID: 1001, GID: gid(1001)}},
			Groups: []overlay.Group{{GroupName: "other", GID: 5}},
		},
		Certificates: []overlay.NamedContent{{Name: "ca", Content: "PEM"}},
	}
	want := &registryv2.CustomOverlay{
		Contents: &registryv2.CustomOverlay_ImageContents{RuntimeKeyring: []*registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{
			withUnknown(&registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{Name: "k", Content: "K2"}, raw(9, "key-extra"))}},
		Accounts: &registryv2.CustomOverlay_Accounts{
			Users: []*registryv2.CustomOverlay_Accounts_User{
				withUnknown(&registryv2.CustomOverlay_Accounts_User{Username: "app", Uid: 1000, Gid: 1000}, raw(9, "user-extra")),
				{Username: "new", Uid: 1001, Gid: 1001},
			},
			Groups: []*registryv2.CustomOverlay_Accounts_Group{{Groupname: "other", Gid: 5}},
		},
		Certificates: &registryv2.CustomOverlay_Certificates{Additional: []*registryv2.CustomOverlay_Certificates_AdditionalEntry{
			withUnknown(&registryv2.CustomOverlay_Certificates_AdditionalEntry{Name: "ca", Content: "PEM"}, raw(9, "cert-extra"))}},
	}
	if diff := cmp.Diff(want, ApplyV2(live, o), protocmp.Transform()); diff != "" {
		t.Errorf("ApplyV2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ToProtoV2(overlay.Overlay{}), ApplyV2(live, overlay.Overlay{}), protocmp.Transform()); diff != "" {
		t.Errorf("ApplyV2 of the empty overlay (-want +got):\n%s", diff)
	}
}
