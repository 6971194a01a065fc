package emulator

import (
	"strings"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The registry's v1 and v2 APIs describe one repository with two sets of
// messages whose field numbers differ (v1 Repo.custom_overlay is 7, v2's is
// 10; v1 CustomOverlay.certificates is 15, v2's is 5), so the emulator maps
// them field by field, by name, never by wire bytes. The store holds the v1
// message; v2 reads and writes are converted.
//
// Names that differ, v2 → v1. Every other field has the same name in both.
var v2ToV1Names = map[protoreflect.FullName]map[protoreflect.Name]protoreflect.Name{
	"chainguard.platform.registry.v2.Repo":                         {"uid": "id"},
	"chainguard.platform.registry.v2.SyncConfig":                   {"expiration_time": "expiration"},
	"chainguard.platform.registry.v2.CustomOverlay.Accounts.User":  {"username": "user_name"},
	"chainguard.platform.registry.v2.CustomOverlay.Accounts.Group": {"groupname": "group_name"},
}

// v1ToV2Names is the inverse of v2ToV1Names, keyed by the v1 messages.
var v1ToV2Names = map[protoreflect.FullName]map[protoreflect.Name]protoreflect.Name{
	"chainguard.platform.registry.Repo":                      {"id": "uid"},
	"chainguard.platform.registry.SyncConfig":                {"expiration": "expiration_time"},
	"chainguard.platform.registry.ApkoConfig.Accounts.User":  {"user_name": "username"},
	"chainguard.platform.registry.ApkoConfig.Accounts.Group": {"group_name": "groupname"},
}

// v1ToV2 converts a stored repo to its v2 form. Fields v2 does not have
// (readme, sync_config.sync_apks) and unknown fields are left out: an
// unknown field's number means nothing in the other version.
func v1ToV2(r *registryv1.Repo) *registryv2.Repo {
	out := &registryv2.Repo{}
	convertMessage(r.ProtoReflect(), out.ProtoReflect(), v1ToV2Names)
	return out
}

// v2ToV1 converts a v2 repo to the stored form, known fields only.
func v2ToV1(r *registryv2.Repo) *registryv1.Repo {
	out := &registryv1.Repo{}
	convertMessage(r.ProtoReflect(), out.ProtoReflect(), v2ToV1Names)
	return out
}

// convertMessage copies every populated field of src that dst has (by name,
// after renames) into dst, converting integer widths and catalog tiers.
func convertMessage(src, dst protoreflect.Message, renames map[protoreflect.FullName]map[protoreflect.Name]protoreflect.Name) {
	names := renames[src.Descriptor().FullName()]
	src.Range(func(sfd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := sfd.Name()
		if n, ok := names[name]; ok {
			name = n
		}
		dfd := dst.Descriptor().Fields().ByName(name)
		if dfd == nil {
			return true // only one version has it
		}
		switch {
		case sfd.IsMap():
			dm := dst.Mutable(dfd).Map()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				dm.Set(k, convertValue(sfd.MapValue(), dfd.MapValue(), mv, dm.NewValue, renames))
				return true
			})
		case sfd.IsList():
			dl := dst.Mutable(dfd).List()
			for i := range v.List().Len() {
				dl.Append(convertValue(sfd, dfd, v.List().Get(i), dl.NewElement, renames))
			}
		case sfd.Kind() == protoreflect.MessageKind:
			convertMessage(v.Message(), dst.Mutable(dfd).Message(), renames)
		default:
			dst.Set(dfd, convertValue(sfd, dfd, v, nil, renames))
		}
		return true
	})
}

// convertValue converts one scalar, or one message of a list or map.
func convertValue(sfd, dfd protoreflect.FieldDescriptor, v protoreflect.Value, newMessage func() protoreflect.Value, renames map[protoreflect.FullName]map[protoreflect.Name]protoreflect.Name) protoreflect.Value {
	switch sfd.Kind() {
	case protoreflect.MessageKind:
		if sfd.Message().FullName() == dfd.Message().FullName() { // Timestamp
			return protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect())
		}
		nv := newMessage()
		convertMessage(v.Message(), nv.Message(), renames)
		return nv
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(convertEnum(sfd.Enum(), dfd.Enum(), v.Enum()))
	case protoreflect.Uint32Kind:
		if dfd.Kind() == protoreflect.Int32Kind {
			return protoreflect.ValueOfInt32(int32(v.Uint()))
		}
	case protoreflect.Int32Kind:
		if dfd.Kind() == protoreflect.Uint32Kind {
			return protoreflect.ValueOfUint32(uint32(v.Int()))
		}
	}
	return v
}

// convertEnum maps enum values by name: v1 CatalogTier APPLICATION is v2
// CATALOG_TIER_APPLICATION, v1 UNKNOWN is v2 CATALOG_TIER_UNSPECIFIED.
func convertEnum(src, dst protoreflect.EnumDescriptor, n protoreflect.EnumNumber) protoreflect.EnumNumber {
	sv := src.Values().ByNumber(n)
	if sv == nil {
		return 0
	}
	name := string(sv.Name())
	for _, candidate := range []string{name, strings.TrimPrefix(name, "CATALOG_TIER_"), "CATALOG_TIER_" + name} {
		if dv := dst.Values().ByName(protoreflect.Name(candidate)); dv != nil {
			return dv.Number()
		}
	}
	return 0 // UNKNOWN and UNSPECIFIED, the zero values
}
