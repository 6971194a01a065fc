package overlaypb

import (
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// Apply returns a copy of live with exactly the fields the file format
// covers set from o, and every other field kept as it was, including fields
// this SDK does not know (protobuf keeps them on the decoded message as
// unknown fields). live is not modified; a nil live is the empty overlay.
//
// The covered fields are contents.packages, contents.runtime_repositories,
// contents.runtime_keyring, environment, annotations, accounts.run_as,
// accounts.users, accounts.groups, certificates.additional and
// certificates.providers. Everything else stays: the overlay's own unknown
// fields (Guarded Entrypoint, tag-scoped overlays on a newer service) and the
// unknown fields of the nested messages contents, accounts and certificates.
//
// Entries of repeated fields are replaced by the file's entries, with one
// rule for their unknown fields: an entry keeps the unknown fields of the
// live entry with the same key (runtime_keyring and certificates.additional
// by name, users by username, groups by group name), so a field that a newer
// service added to, say, a user survives as long as that user does. An entry
// the file removes takes its unknown fields with it; a renamed entry starts
// without them.
//
// The empty overlay clears the covered fields only: a nested message that is
// left with nothing but unknown fields is kept, one that is left with nothing
// at all is dropped (nil and {} are the same overlay).
func Apply(live *registryv1.CustomOverlay, o overlay.Overlay) *registryv1.CustomOverlay {
	out := &registryv1.CustomOverlay{}
	if live != nil {
		out = proto.Clone(live).(*registryv1.CustomOverlay)
	}
	want := ToProto(o)

	out.Environment = want.Environment
	out.Annotations = want.Annotations

	out.Contents = applyContents(out.GetContents(), want.GetContents())
	out.Accounts = applyAccounts(out.GetAccounts(), want.GetAccounts())
	out.Certificates = applyCertificates(out.GetCertificates(), want.GetCertificates())
	return out
}

func applyContents(live, want *registryv1.ImageContents) *registryv1.ImageContents {
	if live == nil {
		return want
	}
	live.Packages = want.GetPackages()
	live.RuntimeRepositories = want.GetRuntimeRepositories()
	live.RuntimeKeyring = keepUnknown(live.GetRuntimeKeyring(), want.GetRuntimeKeyring(),
		(*registryv1.ImageContents_RuntimeKeyringEntry).GetName)
	return nilIfEmpty(live)
}

func applyAccounts(live, want *registryv1.ApkoConfig_Accounts) *registryv1.ApkoConfig_Accounts {
	if live == nil {
		return want
	}
	live.RunAs = want.GetRunAs()
	live.Users = keepUnknown(live.GetUsers(), want.GetUsers(), (*registryv1.ApkoConfig_Accounts_User).GetUserName)
	live.Groups = keepUnknown(live.GetGroups(), want.GetGroups(), (*registryv1.ApkoConfig_Accounts_Group).GetGroupName)
	return nilIfEmpty(live)
}

func applyCertificates(live, want *registryv1.CustomOverlay_Certificates) *registryv1.CustomOverlay_Certificates {
	if live == nil {
		return want
	}
	live.Additional = keepUnknown(live.GetAdditional(), want.GetAdditional(),
		(*registryv1.CustomOverlay_Certificates_AdditionalEntry).GetName)
	live.Providers = want.GetProviders()
	return nilIfEmpty(live)
}

// keepUnknown returns want, each entry carrying the unknown fields of the
// first live entry with the same key. want's entries are fresh messages (from
// ToProto), so setting their unknown fields changes nothing shared.
func keepUnknown[M proto.Message](live, want []M, key func(M) string) []M {
	if len(live) == 0 || len(want) == 0 {
		return want
	}
	unknown := make(map[string]protoreflect.RawFields, len(live))
	for _, e := range live {
		raw := e.ProtoReflect().GetUnknown()
		if len(raw) == 0 {
			continue
		}
		if _, seen := unknown[key(e)]; !seen {
			unknown[key(e)] = raw
		}
	}
	if len(unknown) == 0 {
		return want
	}
	for _, e := range want {
		if raw, ok := unknown[key(e)]; ok {
			e.ProtoReflect().SetUnknown(append(protoreflect.RawFields(nil), raw...))
		}
	}
	return want
}

// nilIfEmpty returns nil for a message with no field set and no unknown
// fields, so that an emptied section reads as absent.
func nilIfEmpty[M proto.Message](m M) M {
	var zero M
	if proto.Size(m) == 0 {
		return zero
	}
	return m
}
