package overlaypb

import (
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// raw encodes one string field with number num, a field this SDK does not
// know (the numbers used here are free in every message involved).
func raw(num protowire.Number, s string) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// withUnknown sets m's unknown fields and returns m.
func withUnknown[M proto.Message](m M, fields ...[]byte) M {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	m.ProtoReflect().SetUnknown(b)
	return m
}

func gid(v uint32) *uint32 { return &v }

// liveOverlay is an overlay as a newer service returns it: unknown fields on
// the overlay itself (Guarded Entrypoint as field 20, a tag binding as 21),
// on contents, accounts and certificates, and on one entry of each repeated
// message field.
func liveOverlay() *registryv1.CustomOverlay {
	return withUnknown(&registryv1.CustomOverlay{
		Contents: withUnknown(&registryv1.ImageContents{
			Packages: []string{"curl"},
			RuntimeKeyring: []*registryv1.ImageContents_RuntimeKeyringEntry{
				withUnknown(&registryv1.ImageContents_RuntimeKeyringEntry{Name: "k.rsa.pub", Content: "KEY"}, raw(9, "key-extra")),
			},
		}, raw(10, "contents-extra")),
		Environment: map[string]string{"A": "1"},
		Accounts: withUnknown(&registryv1.ApkoConfig_Accounts{
			RunAs: "app",
			Users: []*registryv1.ApkoConfig_Accounts_User{
				withUnknown(&registryv1.ApkoConfig_Accounts_User{UserName: "app", Uid: 1000, Gid: gid(1000)}, raw(9, "user-extra")),
				{UserName: "old", Uid: 1001},
			},
			Groups: []*registryv1.ApkoConfig_Accounts_Group{
				withUnknown(&registryv1.ApkoConfig_Accounts_Group{GroupName: "app", Gid: 1000}, raw(9, "group-extra")),
			},
		}, raw(10, "accounts-extra")),
		Certificates: withUnknown(&registryv1.CustomOverlay_Certificates{
			Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{
				withUnknown(&registryv1.CustomOverlay_Certificates_AdditionalEntry{Name: "ca", Content: "PEM"}, raw(9, "cert-extra")),
			},
		}, raw(10, "certificates-extra")),
	}, raw(20, "guarded_entrypoint"), raw(21, "binding"))
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		live *registryv1.CustomOverlay
		o    overlay.Overlay
		want *registryv1.CustomOverlay
	}{{
		name: "nil live is ToProto",
		o:    overlay.Overlay{Packages: []string{"jq"}},
		want: &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"jq"}}},
	}, {
		name: "nil live and empty file",
		want: &registryv1.CustomOverlay{},
	}, {
		name: "a package added keeps every unknown field",
		live: liveOverlay(),
		o: overlay.Overlay{
			Packages:       []string{"curl", "jq"},
			RuntimeKeyring: []overlay.NamedContent{{Name: "k.rsa.pub", Content: "KEY2"}},
			Environment:    map[string]string{"A": "1"},
			Accounts: overlay.Accounts{RunAs: "app",
				Users:  []overlay.User{{UserName: "app", UID: 1000, GID: gid(1000)}, {UserName: "old", UID: 1001}},
				Groups: []overlay.Group{{GroupName: "app", GID: 1000}}},
			Certificates: []overlay.NamedContent{{Name: "ca", Content: "PEM"}},
		},
		want: func() *registryv1.CustomOverlay {
			w := liveOverlay()
			w.Contents.Packages = []string{"curl", "jq"}
			w.Contents.RuntimeKeyring[0].Content = "KEY2"
			return w
		}(),
	}, {
		name: "entries keep unknown fields by key; removed and renamed entries lose them",
		live: liveOverlay(),
		o: overlay.Overlay{
			RuntimeKeyring: []overlay.NamedContent{{Name: "other.rsa.pub", Content: "KEY"}},
			Accounts: overlay.Accounts{
				Users:  []overlay.User{{UserName: "new", UID: 7}, {UserName: "app", UID: 2000}},
				Groups: []overlay.Group{{GroupName: "app2", GID: 1000}}},
			Certificates: []overlay.NamedContent{{Name: "ca", Content: "PEM2"}, {Name: "ca2", Content: "PEM"}},
		},
		want: withUnknown(&registryv1.CustomOverlay{
			Contents: withUnknown(&registryv1.ImageContents{
				RuntimeKeyring: []*registryv1.ImageContents_RuntimeKeyringEntry{{Name: "other.rsa.pub", Content: "KEY"}},
			}, raw(10, "contents-extra")),
			Accounts: withUnknown(&registryv1.ApkoConfig_Accounts{
				Users: []*registryv1.ApkoConfig_Accounts_User{
					{UserName: "new", Uid: 7},
					withUnknown(&registryv1.ApkoConfig_Accounts_User{UserName: "app", Uid: 2000}, raw(9, "user-extra")),
				},
				Groups: []*registryv1.ApkoConfig_Accounts_Group{{GroupName: "app2", Gid: 1000}},
			}, raw(10, "accounts-extra")),
			Certificates: withUnknown(&registryv1.CustomOverlay_Certificates{
				Additional: []*registryv1.CustomOverlay_Certificates_AdditionalEntry{
					withUnknown(&registryv1.CustomOverlay_Certificates_AdditionalEntry{Name: "ca", Content: "PEM2"}, raw(9, "cert-extra")),
					{Name: "ca2", Content: "PEM"},
				},
			}, raw(10, "certificates-extra")),
		}, raw(20, "guarded_entrypoint"), raw(21, "binding")),
	}, {
		name: "the empty file clears covered fields only",
		live: liveOverlay(),
		want: withUnknown(&registryv1.CustomOverlay{
			Contents:     withUnknown(&registryv1.ImageContents{}, raw(10, "contents-extra")),
			Accounts:     withUnknown(&registryv1.ApkoConfig_Accounts{}, raw(10, "accounts-extra")),
			Certificates: withUnknown(&registryv1.CustomOverlay_Certificates{}, raw(10, "certificates-extra")),
		}, raw(20, "guarded_entrypoint"), raw(21, "binding")),
	}, {
		name: "emptied sections without unknown fields are dropped",
		live: &registryv1.CustomOverlay{
			Contents:     &registryv1.ImageContents{Packages: []string{"curl"}},
			Accounts:     &registryv1.ApkoConfig_Accounts{RunAs: "x"},
			Certificates: &registryv1.CustomOverlay_Certificates{Providers: []string{"p"}},
			Annotations:  map[string]string{"a": "b"},
		},
		o:    overlay.Overlay{Environment: map[string]string{"B": "2"}},
		want: &registryv1.CustomOverlay{Environment: map[string]string{"B": "2"}},
	}, {
		name: "sections the live overlay lacks are created",
		live: withUnknown(&registryv1.CustomOverlay{}, raw(20, "guarded_entrypoint")),
		o: overlay.Overlay{Packages: []string{"jq"}, Annotations: map[string]string{"a": "b"},
			Accounts: overlay.Accounts{RunAs: "65532"}, CertificateProviders: []string{"p"}},
		want: withUnknown(&registryv1.CustomOverlay{
			Contents:     &registryv1.ImageContents{Packages: []string{"jq"}},
			Annotations:  map[string]string{"a": "b"},
			Accounts:     &registryv1.ApkoConfig_Accounts{RunAs: "65532"},
			Certificates: &registryv1.CustomOverlay_Certificates{Providers: []string{"p"}},
		}, raw(20, "guarded_entrypoint")),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var before *registryv1.CustomOverlay
			if tc.live != nil {
				before = proto.Clone(tc.live).(*registryv1.CustomOverlay)
			}
			got := Apply(tc.live, tc.o)
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
			if tc.live != nil {
				if diff := cmp.Diff(before, tc.live, protocmp.Transform()); diff != "" {
					t.Errorf("Apply modified live (-before +after):\n%s", diff)
				}
			}
			// The covered fields are exactly the file's.
			if !overlay.Equal(FromProto(got), tc.o) {
				t.Errorf("FromProto(Apply) = %+v, want %+v", FromProto(got), tc.o)
			}
			// Applying again changes nothing, and the result survives the wire.
			if diff := cmp.Diff(got, Apply(got, tc.o), protocmp.Transform()); diff != "" {
				t.Errorf("Apply is not idempotent (-once +twice):\n%s", diff)
			}
			if diff := cmp.Diff(got, overWire(t, got), protocmp.Transform()); diff != "" {
				t.Errorf("wire round trip (-sent +received):\n%s", diff)
			}
		})
	}
}

func TestUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    proto.Message
		want int
	}{
		{"nil", nil, 0},
		{"typed nil", (*registryv1.CustomOverlay)(nil), 0},
		{"none", ToProto(overlay.Overlay{Packages: []string{"a"}, Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u"}}}}), 0},
		{"everywhere", liveOverlay(), 2 + 1 + 1 + 1 + 1 + 1 + 1 + 1},
		{"a repeated unknown field counts once", withUnknown(&registryv1.CustomOverlay{}, raw(20, "a"), raw(20, "b"), raw(21, "c")), 2},
		{"bytes that are not fields count as one", withUnknown(&registryv1.CustomOverlay{}, []byte{0xff}), 1},
		{"in the repo and its overlay", withUnknown(&registryv1.Repo{
			SyncConfig:    withUnknown(&registryv1.SyncConfig{}, raw(30, "x")),
			CustomOverlay: withUnknown(&registryv1.CustomOverlay{}, raw(20, "y")),
		}, raw(40, "z")), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := UnknownFields(tc.m); got != tc.want {
				t.Errorf("UnknownFields = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzApply checks, for any overlay Parse accepts, that Apply over a live
// overlay full of unknown fields sets exactly the file's fields, keeps the
// overlay's own unknown fields and those of its sections, and is idempotent.
func FuzzApply(f *testing.F) {
	fuzzParsed(f, func(t *testing.T, o overlay.Overlay) {
		live := liveOverlay()
		got := Apply(live, o)
		if diff := cmp.Diff(overlay.Canonical(o), overlay.Canonical(FromProto(got))); diff != "" {
			t.Fatalf("covered fields (-file +applied):\n%s", diff)
		}
		if string(got.ProtoReflect().GetUnknown()) != string(live.ProtoReflect().GetUnknown()) {
			t.Fatal("the overlay's unknown fields changed")
		}
		for _, m := range []proto.Message{got.GetContents(), got.GetAccounts(), got.GetCertificates()} {
			if m == nil || len(m.ProtoReflect().GetUnknown()) == 0 {
				t.Fatalf("a section lost its unknown fields: %v", got)
			}
		}
		if !proto.Equal(got, Apply(got, o)) {
			t.Fatal("Apply is not idempotent")
		}
	})
}
