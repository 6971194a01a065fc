package chainguard_test

import (
	"fmt"
	"testing"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func unknownString(num protowire.Number, s string) protoreflect.RawFields {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// unknownOf returns the unknown bytes of the repo, its overlay, and the
// overlay's contents and accounts.users[0].
func unknownOf(r *registryv1.Repo) []string {
	co := r.GetCustomOverlay()
	out := []string{string(r.ProtoReflect().GetUnknown()), string(co.ProtoReflect().GetUnknown())}
	out = append(out, string(co.GetContents().ProtoReflect().GetUnknown()))
	if us := co.GetAccounts().GetUsers(); len(us) > 0 {
		out = append(out, string(us[0].ProtoReflect().GetUnknown()))
	} else {
		out = append(out, "")
	}
	return out
}

// A repo whose repo message and overlay carry fields this SDK does not know
// (as a newer service sends them) keeps them, byte for byte, through a write
// that adds a package, a write that keeps a user, and a reset.
func TestWritesKeepUnknownFields(t *testing.T) {
	for _, noV2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("registry v2 off=%v", noV2), func(t *testing.T) { testWritesKeepUnknownFields(t, noV2) })
	}
}

func testWritesKeepUnknownFields(t *testing.T, noV2 bool) {
	emu, url, orgID := startOrg(t, emulator.Options{DisableRegistryV2: noV2})
	repoExtra := unknownString(50, "repo-field-from-a-newer-service")
	guarded := unknownString(20, "guarded_entrypoint: {fail_mode: closed}")
	contentsExtra := unknownString(10, "contents-extra")
	userExtra := unknownString(9, "user-extra")

	gid := uint32(1000)
	live := &registryv1.CustomOverlay{
		Contents: &registryv1.ImageContents{Packages: []string{"curl"}},
		Accounts: &registryv1.ApkoConfig_Accounts{Users: []*registryv1.ApkoConfig_Accounts_User{{UserName: "app", Uid: 1000, Gid: &gid}}},
	}
	live.ProtoReflect().SetUnknown(guarded)
	live.Contents.ProtoReflect().SetUnknown(contentsExtra)
	live.Accounts.Users[0].ProtoReflect().SetUnknown(userExtra)
	in := customRepo("a")
	in.CustomOverlay = live
	in.ProtoReflect().SetUnknown(repoExtra)
	r := emu.CreateRepo(orgID, in)
	if diff := cmp.Diff([]string{string(repoExtra), string(guarded), string(contentsExtra), string(userExtra)}, unknownOf(emu.Repo(r.GetId()))); diff != "" {
		t.Fatalf("the emulator does not keep unknown fields (-want +got):\n%s", diff)
	}

	c := dial(t, chainguard.Config{URL: url})
	ctx := t.Context()
	repos, err := c.ListRepos(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0].UnknownFields != 3 || repos[0].UnknownRepoFields != 1 {
		t.Fatalf("ListRepos = %+v, want 3 unknown fields in the overlay and 1 in the repo", repos)
	}
	if want := (overlay.Overlay{Packages: []string{"curl"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "app", UID: 1000, GID: &gid}}}}); !overlay.Equal(repos[0].Overlay, want) {
		t.Errorf("live overlay = %+v, want %+v (unknown fields are not part of it)", repos[0].Overlay, want)
	}

	// An unknown field inside a user entry was set here with v1's numbers,
	// which mean nothing to v2 (the emulator, like any server, cannot show
	// it through v2), so a v2 write replaces the users without it. A newer
	// real server knows the field and sends it through v2 too, where
	// overlaypb.ApplyV2 carries it over (tested in overlaypb).
	userKept := string(userExtra)
	if !noV2 {
		userKept = ""
	}
	for _, step := range []struct {
		name string
		o    overlay.Overlay
		v2   bool // written through registry v2 when it is served
		want []string
	}{{
		name: "add a package, keep the user",
		o:    overlay.Overlay{Packages: []string{"curl", "jq"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "app", UID: 1000, GID: &gid}}}},
		v2:   true,
		want: []string{string(repoExtra), string(guarded), string(contentsExtra), userKept},
	}, {
		name: "a user without a gid, which only v1 can say",
		o:    overlay.Overlay{Packages: []string{"curl"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "app", UID: 1000}}}},
		want: []string{string(repoExtra), string(guarded), string(contentsExtra), userKept},
	}, {
		name: "reset",
		o:    overlay.Overlay{},
		v2:   true,
		want: []string{string(repoExtra), string(guarded), string(contentsExtra), ""},
	}} {
		emu.ResetCounts()
		got, err := c.WriteOverlay(ctx, r.GetId(), step.o)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		v2 := emu.Calls(registryv2.ReposService_UpdateRepo_FullMethodName) == 1
		v1 := emu.Calls(registryv1.Registry_UpdateRepo_FullMethodName) == 1
		if wantV2 := step.v2 && !noV2; v2 != wantV2 || v1 == wantV2 {
			t.Errorf("%s: written with v2=%v v1=%v, want v2=%v", step.name, v2, v1, wantV2)
		}
		stored := emu.Repo(r.GetId())
		if diff := cmp.Diff(step.want, unknownOf(stored)); diff != "" {
			t.Errorf("%s: unknown fields after the write (-want +got):\n%s", step.name, diff)
		}
		if !overlay.Equal(storedOverlay(emu, r.GetId()), step.o) || !overlay.Equal(got.Overlay, step.o) {
			t.Errorf("%s: stored overlay = %+v, returned %+v, want %+v", step.name, storedOverlay(emu, r.GetId()), got.Overlay, step.o)
		}
		// Every other field of the repo is as it was.
		rest, orig := proto.Clone(stored).(*registryv1.Repo), proto.Clone(r).(*registryv1.Repo)
		rest.CustomOverlay, orig.CustomOverlay = nil, nil
		if !proto.Equal(rest, orig) {
			t.Errorf("%s: the write changed other fields of the repo:\n got %v\nwant %v", step.name, rest, orig)
		}
	}
}
