package overlaypb

import (
	"slices"

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

// countUnknown walks the message's fields by descriptor rather than with
// Range, which builds a Value (and, for lists and maps, allocates a
// wrapper) for every populated field: here only message-typed fields are
// read, so a repo without unknown fields costs no allocation but one per
// non-empty list of messages (users, groups, keys, certificates).
func countUnknown(m protoreflect.Message) int {
	n := distinctFields(m.GetUnknown())
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil || !m.Has(fd) {
				continue
			}
			n += countUnknownInMap(m.Get(fd).Map())
		case fd.Message() == nil:
		case fd.IsList():
			if !m.Has(fd) {
				continue
			}
			l := m.Get(fd).List()
			for j := range l.Len() {
				n += countUnknown(l.Get(j).Message())
			}
		case m.Has(fd):
			n += countUnknown(m.Get(fd).Message())
		}
	}
	return n
}

// countUnknownInMap counts the unknown fields of a map's message values. It
// is a function of its own so that the closure does not move countUnknown's
// counter to the heap.
func countUnknownInMap(m protoreflect.Map) int {
	n := 0
	m.Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
		n += countUnknown(v.Message())
		return true
	})
	return n
}

// distinctFields counts the distinct field numbers in raw. Bytes that do not
// parse as fields count as one field, so that nothing unknown reads as zero.
// The numbers seen are kept in a small array on the stack: a message holds
// few unknown fields.
func distinctFields(raw protoreflect.RawFields) int {
	if len(raw) == 0 {
		return 0
	}
	var small [16]protowire.Number
	seen := small[:0]
	for len(raw) > 0 {
		num, _, n := protowire.ConsumeField(raw)
		if n < 0 {
			return len(seen) + 1
		}
		if !slices.Contains(seen, num) {
			seen = append(seen, num)
		}
		raw = raw[n:]
	}
	return len(seen)
}
