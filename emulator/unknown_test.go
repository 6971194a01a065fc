package emulator_test

import (
	"bytes"
	"fmt"
	"testing"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// unknownField encodes one length-delimited field of the given number.
func unknownField(num protowire.Number, payload string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), payload)
}

// unknownAt is the unknown fields of every message level of a repo that the
// test sets, by path.
func unknownAt(r *registryv1.Repo) map[string][]byte {
	out := map[string][]byte{}
	add := func(path string, m protoreflect.ProtoMessage) {
		if m != nil && m.ProtoReflect().IsValid() {
			out[path] = m.ProtoReflect().GetUnknown()
		}
	}
	add("repo", r)
	add("sync_config", r.GetSyncConfig())
	add("custom_overlay", r.GetCustomOverlay())
	add("custom_overlay.contents", r.GetCustomOverlay().GetContents())
	add("custom_overlay.accounts", r.GetCustomOverlay().GetAccounts())
	for i, u := range r.GetCustomOverlay().GetAccounts().GetUsers() {
		add(fmt.Sprintf("custom_overlay.accounts.users[%d]", i), u)
	}
	return out
}

func sameUnknown(t *testing.T, what string, want, got *registryv1.Repo) {
	t.Helper()
	w, g := unknownAt(want), unknownAt(got)
	for path, wb := range w {
		if !bytes.Equal(wb, g[path]) {
			t.Errorf("%s: unknown fields of %s = %x, want %x", what, path, g[path], wb)
		}
	}
	if !proto.Equal(want, got) {
		t.Errorf("%s: repo = %v, want %v", what, got, want)
	}
}

// The emulator is a newer server: every field it is sent, including the
// fields this SDK does not know, is stored and returned byte for byte by
// CreateRepo, UpdateRepo and ListRepos.
func TestUnknownFieldsKeptByteForByte(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	reg := c.Registry().Registry()
	org := emu.CreateOrg("acme.example")
	if _, err := emu.SetSourceImages(org, "nginx"); err != nil {
		t.Fatal(err)
	}

	in := customRepo("nginx")
	in.CustomOverlay = &registryv1.CustomOverlay{
		Contents: &registryv1.ImageContents{Packages: []string{"curl"}},
		Accounts: &registryv1.ApkoConfig_Accounts{Users: []*registryv1.ApkoConfig_Accounts_User{{UserName: "app", Uid: 1000}}},
	}
	in.ProtoReflect().SetUnknown(unknownField(20, "tag-scoped overlays"))
	in.GetSyncConfig().ProtoReflect().SetUnknown(unknownField(30, "newer sync setting"))
	guarded := append(unknownField(16, "\x08\x01\x12\x0bfail-closed"), unknownField(17, "preflight")...)
	in.GetCustomOverlay().ProtoReflect().SetUnknown(guarded)
	in.GetCustomOverlay().GetContents().ProtoReflect().SetUnknown(unknownField(9, "contents extra"))
	in.GetCustomOverlay().GetAccounts().ProtoReflect().SetUnknown(unknownField(9, "accounts extra"))
	in.GetCustomOverlay().GetAccounts().GetUsers()[0].ProtoReflect().SetUnknown(unknownField(9, "user extra"))

	created, err := reg.CreateRepo(t.Context(), &registryv1.CreateRepoRequest{ParentId: org, Repo: in})
	if err != nil {
		t.Fatal(err)
	}
	// The server completes sync_config (the source as a UIDP, the Custom
	// Assembly fields) and keeps the rest as sent, unknown fields included.
	if got := created.GetSyncConfig().ProtoReflect().GetUnknown(); !bytes.Equal(got, unknownField(30, "newer sync setting")) {
		t.Errorf("created sync_config unknown fields = %x", got)
	}
	want := proto.Clone(in).(*registryv1.Repo)
	want.Id, want.CreateTime = created.GetId(), created.GetCreateTime()
	want.SyncConfig = proto.Clone(created.GetSyncConfig()).(*registryv1.SyncConfig)
	sameUnknown(t, "CreateRepo's answer", want, created)
	list, err := reg.ListRepos(t.Context(), &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != 1 {
		t.Fatalf("ListRepos = %d repos", len(list.GetItems()))
	}
	sameUnknown(t, "ListRepos after CreateRepo", want, list.GetItems()[0])

	// A client that keeps what it does not know sends them back unchanged,
	// with its own change: they survive the PUT.
	next := list.GetItems()[0]
	next.CustomOverlay.Contents.Packages = []string{"curl", "jq"}
	updated, err := reg.UpdateRepo(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	want = proto.Clone(next).(*registryv1.Repo)
	sameUnknown(t, "UpdateRepo's answer", want, updated)
	sameUnknown(t, "ListRepos after UpdateRepo", want, readRepo(t, c, created.GetId()))
	sameUnknown(t, "the store", want, emu.Repo(created.GetId()))

	// UpdateRepo is a full PUT: a client that drops them erases them, like
	// any other field it leaves out.
	dropped := readRepo(t, c, created.GetId())
	dropped.GetCustomOverlay().ProtoReflect().SetUnknown(nil)
	dropped.ProtoReflect().SetUnknown(unknownField(21, "other"))
	if _, err := reg.UpdateRepo(t.Context(), dropped); err != nil {
		t.Fatal(err)
	}
	sameUnknown(t, "after a PUT without them", dropped, readRepo(t, c, created.GetId()))

	// sync_config is echoed exactly, its unknown fields too.
	changed := readRepo(t, c, created.GetId())
	changed.GetSyncConfig().ProtoReflect().SetUnknown(unknownField(30, "edited"))
	_, err = reg.UpdateRepo(t.Context(), changed)
	wantStatus(t, err, codes.InvalidArgument, "sync_config cannot be changed")
}
