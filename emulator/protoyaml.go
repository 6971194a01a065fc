package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// This file reads a proto message from YAML in the API's own shape: the
// keys are the proto's field names (or their JSON names), as protojson
// takes them, and every value is decoded by protojson, so the SDK's schema
// is the only schema the emulator knows. The message is walked field by
// field so that a mistake is reported with its line and field path.
//
// At any message level the key "unknown_fields" adds fields the SDK does
// not know, kept byte for byte as the message's unknown fields. It is a
// list of entries, each with a field number and exactly one value:
//
//	unknown_fields:
//	  - {number: 16, varint: 1}
//	  - {number: 17, string: fail-closed}
//	  - {number: 18, bytes: CgRtYWlu}            # base64 of the payload
//	  - {number: 19, fixed32: 7}
//	  - {number: 20, fixed64: 7}
//	  - {number: 21, message: [{number: 1, string: main}]}

// unknownFieldsKey is the seed key that holds a message's unknown fields.
const unknownFieldsKey = "unknown_fields"

// yamlError is a seed mistake at a line.
type yamlError struct {
	line int
	path string
	msg  string
}

func (e *yamlError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.line, e.path, e.msg)
}

func errAt(n *yaml.Node, path, format string, args ...any) error {
	return &yamlError{line: n.Line, path: path, msg: fmt.Sprintf(format, args...)}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// decodeMessage fills m from a YAML mapping. skip names keys that the
// caller reads itself.
func decodeMessage(n *yaml.Node, m protoreflect.Message, path string, skip map[string]bool) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(n, path, "want a mapping of %s fields", m.Descriptor().FullName())
	}
	fields := m.Descriptor().Fields()
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		key := kn.Value
		if kn.Kind != yaml.ScalarNode || key == "<<" {
			return errAt(kn, path, "keys must be field names (merge keys are not supported)")
		}
		if seen[key] {
			return errAt(kn, join(path, key), "duplicate key")
		}
		seen[key] = true
		if skip[key] {
			continue
		}
		if key == unknownFieldsKey {
			raw, err := decodeUnknown(vn, join(path, key), fields)
			if err != nil {
				return err
			}
			m.SetUnknown(append(m.GetUnknown(), raw...))
			continue
		}
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			fd = fields.ByJSONName(key)
		}
		if fd == nil {
			return errAt(kn, join(path, key), "unknown field of %s (known: %s)", m.Descriptor().FullName(), fieldNames(fields))
		}
		if err := decodeField(vn, m, fd, join(path, string(fd.Name()))); err != nil {
			return err
		}
	}
	return nil
}

// decodeField sets one field: nested messages and lists of them are walked,
// everything else goes through protojson.
func decodeField(n *yaml.Node, m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) error {
	switch {
	case isNull(n):
		return nil
	case fd.IsMap():
	case fd.IsList() && fd.Kind() == protoreflect.MessageKind && !wellKnown(fd.Message()):
		if n.Kind != yaml.SequenceNode {
			return errAt(n, path, "want a list of %s", fd.Message().FullName())
		}
		list := m.Mutable(fd).List()
		for i, e := range n.Content {
			el := list.NewElement()
			if err := decodeMessage(e, el.Message(), fmt.Sprintf("%s[%d]", path, i), nil); err != nil {
				return err
			}
			list.Append(el)
		}
		return nil
	case !fd.IsList() && fd.Kind() == protoreflect.MessageKind && !wellKnown(fd.Message()):
		return decodeMessage(n, m.Mutable(fd).Message(), path, nil)
	}
	v, err := jsonValue(n, fd, path)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(map[string]json.RawMessage{fd.JSONName(): v})
	if err != nil {
		return errAt(n, path, "%v", err)
	}
	tmp := m.New()
	if err := protojson.Unmarshal(doc, tmp.Interface()); err != nil {
		return errAt(n, path, "%s", protojsonMessage(err))
	}
	if tmp.Has(fd) { // an empty list or map sets nothing
		m.Set(fd, tmp.Get(fd))
	}
	return nil
}

// jsonValue renders a YAML value as the JSON protojson expects for fd.
func jsonValue(n *yaml.Node, fd protoreflect.FieldDescriptor, path string) (json.RawMessage, error) {
	n = resolve(n)
	switch {
	case fd.IsMap():
		if n.Kind != yaml.MappingNode {
			return nil, errAt(n, path, "want a mapping")
		}
		obj := map[string]json.RawMessage{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := obj[k]; dup {
				return nil, errAt(n.Content[i], fmt.Sprintf("%s[%q]", path, k), "duplicate key")
			}
			v, err := jsonValue(n.Content[i+1], fd.MapValue(), fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		return json.Marshal(obj)
	case fd.IsList():
		if n.Kind != yaml.SequenceNode {
			return nil, errAt(n, path, "want a list")
		}
		arr := make([]json.RawMessage, 0, len(n.Content))
		for i, e := range n.Content {
			v, err := scalarJSON(resolve(e), fd, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return json.Marshal(arr)
	default:
		return scalarJSON(n, fd, path)
	}
}

// scalarJSON renders one scalar. Numbers are given to protojson as strings
// (it takes both), so that YAML's number forms reach it as written.
func scalarJSON(n *yaml.Node, fd protoreflect.FieldDescriptor, path string) (json.RawMessage, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errAt(n, path, "want a single value")
	}
	if isNull(n) {
		return json.RawMessage("null"), nil
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if n.Tag == "!!bool" {
			return json.RawMessage(strconv.FormatBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")), nil
		}
	case protoreflect.EnumKind:
		if _, err := strconv.Atoi(n.Value); err == nil {
			return json.RawMessage(n.Value), nil
		}
	}
	return json.Marshal(n.Value)
}

// protojsonMessage drops protojson's prefix (whose spacing protobuf-go
// varies on purpose) and its position in the one-field document it was
// given, which means nothing to the reader of the seed.
var protojsonPosition = regexp.MustCompile(`^proto:[\s\x{a0}]*(\(line \d+:\d+\):[\s\x{a0}]*)?`)

func protojsonMessage(err error) string {
	return protojsonPosition.ReplaceAllString(err.Error(), "")
}

// wellKnown reports whether a message has its own JSON form (Timestamp,
// Duration, wrappers, ...), which protojson decodes from a scalar.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.FullName().Parent() == "google.protobuf"
}

func fieldNames(fields protoreflect.FieldDescriptors) string {
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = string(fields.Get(i).Name())
	}
	sort.Strings(names)
	return strings.Join(append(names, unknownFieldsKey), ", ")
}

// decodeUnknown encodes an unknown_fields list as wire bytes. known, when
// not nil, are the message's fields, whose numbers cannot be used.
func decodeUnknown(n *yaml.Node, path string, known protoreflect.FieldDescriptors) ([]byte, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "want a list of {number, varint|fixed32|fixed64|string|bytes|message}")
	}
	var out []byte
	for i, en := range n.Content {
		en = resolve(en)
		p := fmt.Sprintf("%s[%d]", path, i)
		if en.Kind != yaml.MappingNode {
			return nil, errAt(en, p, "want {number, varint|fixed32|fixed64|string|bytes|message}")
		}
		var (
			num        protowire.Number
			kind       string
			val        *yaml.Node
			haveNumber bool
		)
		for j := 0; j+1 < len(en.Content); j += 2 {
			kn, vn := en.Content[j], resolve(en.Content[j+1])
			switch kn.Value {
			case "number":
				v, err := strconv.ParseInt(vn.Value, 10, 32)
				if err != nil || vn.Kind != yaml.ScalarNode || !protowire.Number(v).IsValid() {
					return nil, errAt(vn, p+".number", "%q is not a valid field number", vn.Value)
				}
				num, haveNumber = protowire.Number(v), true
			case "varint", "fixed32", "fixed64", "string", "bytes", "message":
				if kind != "" {
					return nil, errAt(kn, p, "want exactly one of varint, fixed32, fixed64, string, bytes, message; got %s and %s", kind, kn.Value)
				}
				kind, val = kn.Value, vn
			default:
				return nil, errAt(kn, p+"."+kn.Value, "unknown key (known: number, varint, fixed32, fixed64, string, bytes, message)")
			}
		}
		if !haveNumber {
			return nil, errAt(en, p+".number", "required")
		}
		if kind == "" {
			return nil, errAt(en, p, "want exactly one of varint, fixed32, fixed64, string, bytes, message")
		}
		if known != nil {
			if fd := known.ByNumber(num); fd != nil {
				return nil, errAt(en, p+".number", "field %d is %s, which the SDK knows; set it by name", num, fd.Name())
			}
		}
		vp := p + "." + kind
		if kind != "message" && val.Kind != yaml.ScalarNode {
			return nil, errAt(val, vp, "want a single value")
		}
		switch kind {
		case "varint", "fixed32", "fixed64":
			bits := 64
			if kind == "fixed32" {
				bits = 32
			}
			u, err := strconv.ParseUint(val.Value, 0, bits)
			if err != nil {
				return nil, errAt(val, vp, "%q is not an unsigned %d-bit number", val.Value, bits)
			}
			switch kind {
			case "varint":
				out = protowire.AppendVarint(protowire.AppendTag(out, num, protowire.VarintType), u)
			case "fixed32":
				out = protowire.AppendFixed32(protowire.AppendTag(out, num, protowire.Fixed32Type), uint32(u))
			default:
				out = protowire.AppendFixed64(protowire.AppendTag(out, num, protowire.Fixed64Type), u)
			}
		case "string":
			out = protowire.AppendString(protowire.AppendTag(out, num, protowire.BytesType), val.Value)
		case "bytes":
			b, err := base64.StdEncoding.DecodeString(val.Value)
			if err != nil {
				return nil, errAt(val, vp, "not base64: %v", err)
			}
			out = protowire.AppendBytes(protowire.AppendTag(out, num, protowire.BytesType), b)
		default:
			b, err := decodeUnknown(val, vp, nil)
			if err != nil {
				return nil, err
			}
			out = protowire.AppendBytes(protowire.AppendTag(out, num, protowire.BytesType), b)
		}
	}
	return out, nil
}
