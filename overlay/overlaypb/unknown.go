package overlaypb

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// UnknownFields counts the fields anywhere in m that this SDK does not know:
// for m and for every message nested in it (singular, repeated and map
// values), the number of distinct field numbers among its unknown fields. A
// repeated unknown field counts once per message that holds it. A nil message
// has none.
//
// A newer service sends these for features this build cannot see (Guarded
// Entrypoint, tag-scoped overlays); Apply keeps them on every write, and the
// count lets the daemon say so.
func UnknownFields(m proto.Message) int {
	if m == nil {
		return 0
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return 0
	}
	return countUnknown(r)
}

func countUnknown(m protoreflect.Message) int {
	n := distinctFields(m.GetUnknown())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					n += countUnknown(mv.Message())
					return true
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				n += countUnknown(l.Get(i).Message())
			}
		default:
			n += countUnknown(v.Message())
		}
		return true
	})
	return n
}

// distinctFields counts the distinct field numbers in raw. Bytes that do not
// parse as fields count as one field, so that nothing unknown reads as zero.
func distinctFields(raw protoreflect.RawFields) int {
	if len(raw) == 0 {
		return 0
	}
	seen := map[protowire.Number]bool{}
	for len(raw) > 0 {
		num, _, n := protowire.ConsumeField(raw)
		if n < 0 {
			return len(seen) + 1
		}
		seen[num] = true
		raw = raw[n:]
	}
	return len(seen)
}
