package chainguard_test

import (
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
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
	emu, url := startEmulator(t, emulator.Options{})
	orgID := emu.CreateOrg("acme.example")
	repoExtra := unknownString(50, "repo-field-from-a-newer-service")
	guarded := unknownString(20, "guarded_entrypoint: {fail_mode: closed}")
	contentsExtra := unknownString(10, "contents-extra")
	userExtra := unknownString(9, "user-extra")

	live := &registryv1.CustomOverlay{
		Contents: &registryv1.ImageContents{Packages: []string{"curl"}},
		Accounts: &registryv1.ApkoConfig_Accounts{Users: []*registryv1.ApkoConfig_Accounts_User{{UserName: "app", Uid: 1000}}},
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
	ctx := ctxT(t)
	repos, err := c.ListRepos(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0].UnknownFields != 3 || repos[0].UnknownRepoFields != 1 {
		t.Fatalf("ListRepos = %+v, want 3 unknown fields in the overlay and 1 in the repo", repos)
	}
	if want := (overlay.Overlay{Packages: []string{"curl"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "app", UID: 1000}}}}); !overlay.Equal(repos[0].Overlay, want) {
		t.Errorf("live overlay = %+v, want %+v (unknown fields are not part of it)", repos[0].Overlay, want)
	}

	for _, step := range []struct {
		name string
		o    overlay.Overlay
		want []string
	}{{
		name: "add a package, keep the user",
		o:    overlay.Overlay{Packages: []string{"curl", "jq"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "app", UID: 1000}}}},
		want: []string{string(repoExtra), string(guarded), string(contentsExtra), string(userExtra)},
	}, {
		name: "reset",
		o:    overlay.Overlay{},
		want: []string{string(repoExtra), string(guarded), string(contentsExtra), ""},
	}} {
		got, err := c.WriteOverlay(ctx, r.GetId(), step.o)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		stored := emu.Repo(r.GetId())
		if diff := cmp.Diff(step.want, unknownOf(stored)); diff != "" {
			t.Errorf("%s: unknown fields after the write (-want +got):\n%s", step.name, diff)
		}
		if !overlay.Equal(overlaypb.FromProto(stored.GetCustomOverlay()), step.o) || !overlay.Equal(got.Overlay, step.o) {
			t.Errorf("%s: stored overlay = %+v, returned %+v, want %+v", step.name, overlaypb.FromProto(stored.GetCustomOverlay()), got.Overlay, step.o)
		}
		// Every other field of the repo is as it was.
		rest, orig := proto.Clone(stored).(*registryv1.Repo), proto.Clone(r).(*registryv1.Repo)
		rest.CustomOverlay, orig.CustomOverlay = nil, nil
		if !proto.Equal(rest, orig) {
			t.Errorf("%s: the write changed other fields of the repo:\n got %v\nwant %v", step.name, rest, orig)
		}
	}
}
