package emulator

import (
	"fmt"
	"slices"
	"strings"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A v2 UpdateRepo is a PATCH: update_mask lists the fields to change, as
// paths of v2 field names ("custom_overlay.contents.packages"). Without a
// mask, the implied mask is every field the request populates, down to the
// leaves of its messages; "*" replaces every field the caller may set. A
// path names a whole field: a list, a map or a message is replaced as a
// whole (the API takes no map keys or list indexes in paths).

// v2OutputOnly are the fields the server owns (OUTPUT_ONLY in repos.proto):
// a mask may name them, and they are ignored.
var v2OutputOnly = map[string]bool{
	"uid":                         true,
	"create_time":                 true,
	"update_time":                 true,
	"sync_config.unique_tags":     true,
	"sync_config.expiration_time": true,
	"sync_config.apko_overlay":    true,
	"sync_config.grace_period":    true,
}

// v2Inherited are the fields a repo that syncs from a source inherits:
// changing them fails with INVALID_ARGUMENT (repos.proto).
var v2Inherited = []string{"catalog_tier", "bundles", "aliases", "active_tags"}

// maskPath is one update_mask path, resolved against both versions.
type maskPath struct {
	v2 string                         // as given
	v1 []protoreflect.FieldDescriptor // the same field in the stored message
}

// resolveMask turns the request's mask into paths of the stored message.
// An absent or empty mask is the implied mask; "*" is every settable field.
func resolveMask(req *registryv2.UpdateRepoRequest) ([]maskPath, error) {
	var paths []string
	switch m := req.GetUpdateMask().GetPaths(); {
	case len(m) == 0:
		paths = impliedPaths(req.GetRepo().ProtoReflect(), "")
	case slices.Contains(m, "*"):
		if len(m) > 1 {
			return nil, status.Error(codes.InvalidArgument, `update_mask: "*" must be the only path`)
		}
		fields := (&registryv2.Repo{}).ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			paths = append(paths, string(fields.Get(i).Name()))
		}
	default:
		paths = m
	}
	var out []maskPath
	for _, p := range paths {
		if v2OutputOnly[p] {
			continue
		}
		v1, err := resolvePath(p)
		if err != nil {
			return nil, err
		}
		if v1 == nil {
			continue // a field only v2 has: none is settable
		}
		out = append(out, maskPath{v2: p, v1: v1})
	}
	return out, nil
}

// impliedPaths lists the populated fields of m as paths, descending into
// singular messages so that a PATCH of one nested field leaves its
// siblings alone.
func impliedPaths(m protoreflect.Message, prefix string) []string {
	var out []string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := prefix + string(fd.Name())
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && !wellKnown(fd.Message()) {
			if sub := impliedPaths(v.Message(), p+"."); len(sub) > 0 {
				out = append(out, sub...)
				return true
			}
		}
		out = append(out, p)
		return true
	})
	return out
}

// resolvePath maps a v2 path to the stored v1 field path. It returns nil for
// a field that only v2 has.
func resolvePath(path string) ([]protoreflect.FieldDescriptor, error) {
	v2md := (&registryv2.Repo{}).ProtoReflect().Descriptor()
	v1md := (&registryv1.Repo{}).ProtoReflect().Descriptor()
	var out []protoreflect.FieldDescriptor
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		if v2md == nil || wellKnown(v2md) {
			return nil, status.Errorf(codes.InvalidArgument, "update_mask: path %q goes inside %s, which is not a message", path, strings.Join(segs[:i], "."))
		}
		fd2 := v2md.Fields().ByName(protoreflect.Name(seg))
		if fd2 == nil {
			return nil, status.Errorf(codes.InvalidArgument, "update_mask: unknown path %q (%s has no field %q)", path, v2md.FullName(), seg)
		}
		name := fd2.Name()
		if n, ok := v2ToV1Names[v2md.FullName()][name]; ok {
			name = n
		}
		fd1 := v1md.Fields().ByName(name)
		if fd1 == nil {
			return nil, nil
		}
		out = append(out, fd1)
		v2md, v1md = nil, nil
		if fd2.Kind() == protoreflect.MessageKind && !fd2.IsList() && !fd2.IsMap() {
			v2md, v1md = fd2.Message(), fd1.Message()
		}
	}
	return out, nil
}

// applyPath sets the field at path in dst to its value in src, or clears it
// when src does not set it. Messages on the way are created in dst.
func applyPath(dst, src protoreflect.Message, path []protoreflect.FieldDescriptor) {
	for _, fd := range path[:len(path)-1] {
		src = src.Get(fd).Message()
		dst = dst.Mutable(fd).Message()
	}
	last := path[len(path)-1]
	if src.IsValid() && src.Has(last) {
		dst.Set(last, src.Get(last))
	} else {
		dst.Clear(last)
	}
}

// pathString names a v1 field path.
func pathString(path []protoreflect.FieldDescriptor) string {
	names := make([]string, len(path))
	for i, fd := range path {
		names[i] = string(fd.Name())
	}
	return strings.Join(names, ".")
}

// messagePaths lists the singular message fields of md, recursively, as
// paths ("custom_overlay", "custom_overlay.contents", ...): the places a
// message's own unknown fields are kept.
func messagePaths(md protoreflect.MessageDescriptor, prefix string) []string {
	var out []string
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || wellKnown(fd.Message()) {
			continue
		}
		p := prefix + string(fd.Name())
		out = append(out, p)
		out = append(out, messagePaths(fd.Message(), p+".")...)
	}
	return out
}

// messageAt returns the message at a path of message fields ("" is m).
// With create, missing messages on the way are made and the result is
// mutable; without, it is invalid when one on the way is unset.
func messageAt(m protoreflect.Message, path string, create bool) protoreflect.Message {
	if path == "" {
		return m
	}
	for _, seg := range strings.Split(path, ".") {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			panic(fmt.Sprintf("emulator: no field %q in %s", seg, m.Descriptor().FullName()))
		}
		switch {
		case create || (m.IsValid() && m.Has(fd)):
			m = m.Mutable(fd).Message()
		default:
			return m.Get(fd).Message() // invalid: the field is unset
		}
	}
	return m
}

// unknownByPath collects the unknown fields of m and its singular messages.
func unknownByPath(m protoreflect.Message) map[string][]byte {
	out := map[string][]byte{}
	for _, p := range append([]string{""}, messagePaths(m.Descriptor(), "")...) {
		if sub := messageAt(m, p, false); sub.IsValid() && len(sub.GetUnknown()) > 0 {
			out[p] = sub.GetUnknown()
		}
	}
	return out
}

// restoreUnknown puts unknown fields back at each path whose message exists
// in m.
func restoreUnknown(m protoreflect.Message, unknown map[string][]byte) {
	for p, b := range unknown {
		if sub := messageAt(m, p, false); sub.IsValid() {
			sub.SetUnknown(b)
		}
	}
}

// equalValue reports whether a and b hold the same value of field fd.
func equalValue(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	x, y := a.New(), b.New()
	if a.Has(fd) {
		x.Set(fd, a.Get(fd))
	}
	if b.Has(fd) {
		y.Set(fd, b.Get(fd))
	}
	return proto.Equal(x.Interface(), y.Interface())
}

func protoreflectName(s string) protoreflect.Name { return protoreflect.Name(s) }
