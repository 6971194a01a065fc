package overlay

import (
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Keys apko reads that Custom Assembly does not take, per mapping. Writing
// them is an error naming the key, never silently dropped.
var (
	unsupportedTop      = []string{"entrypoint", "cmd", "stop-signal", "work-dir", "archs", "paths", "vcs-url", "include", "volumes", "layering", "format"}
	unsupportedContents = []string{"repositories", "keyring", "build_repositories", "baseimage"}
)

// Keys each mapping of the file format takes.
var (
	keysTop          = []string{"contents", "environment", "annotations", "accounts", "certificates"}
	keysContents     = []string{"packages", "runtime_repositories", "runtime_keyring"}
	keysAccounts     = []string{"run-as", "users", "groups"}
	keysUser         = []string{"username", "uid", "gid", "groupname", "shell", "homedir"}
	keysGroup        = []string{"groupname", "gid", "members"}
	keysCertificates = []string{"additional", "providers"}
	keysEntry        = []string{"name", "content"}
)

// nestedKeys are keys of an inner mapping that are easily written at the top
// level by mistake.
var nestedKeys = map[string]string{
	"packages":             "contents.packages",
	"runtime_repositories": "contents.runtime_repositories",
	"runtime_keyring":      "contents.runtime_keyring",
	"run-as":               "accounts.run-as",
	"users":                "accounts.users",
	"groups":               "accounts.groups",
	"additional":           "certificates.additional",
	"providers":            "certificates.providers",
}

// handlers maps each accepted key of one mapping to the code that reads its
// value; field is the value's path.
type handlers map[string]func(v *yaml.Node, field string)

// overlay reads the top-level mapping.
func (d *decoder) overlay(root *yaml.Node, o *Overlay) {
	d.fields(root, "", keysTop, unsupportedTop, handlers{
		"contents": func(v *yaml.Node, f string) {
			d.fields(v, f, keysContents, unsupportedContents, handlers{
				"packages":             func(v *yaml.Node, f string) { o.Packages = d.strings(v, f) },
				"runtime_repositories": func(v *yaml.Node, f string) { o.RuntimeRepositories = d.strings(v, f) },
				"runtime_keyring":      func(v *yaml.Node, f string) { o.RuntimeKeyring = d.entries(v, f) },
			})
		},
		"environment": func(v *yaml.Node, f string) { o.Environment = d.stringMap(v, f) },
		"annotations": func(v *yaml.Node, f string) { o.Annotations = d.stringMap(v, f) },
		"accounts":    func(v *yaml.Node, f string) { d.accounts(v, f, &o.Accounts) },
		"certificates": func(v *yaml.Node, f string) {
			d.fields(v, f, keysCertificates, nil, handlers{
				"additional": func(v *yaml.Node, f string) { o.Certificates = d.entries(v, f) },
				"providers":  func(v *yaml.Node, f string) { o.CertificateProviders = d.strings(v, f) },
			})
		},
	})
}

func (d *decoder) accounts(n *yaml.Node, field string, a *Accounts) {
	d.fields(n, field, keysAccounts, nil, handlers{
		"run-as": func(v *yaml.Node, f string) { a.RunAs = d.string(v, f) },
		"users": func(v *yaml.Node, f string) {
			d.list(v, f, func(item *yaml.Node, f string) {
				var u User
				d.fields(item, f, keysUser, nil, handlers{
					"username":  func(v *yaml.Node, f string) { u.UserName = d.string(v, f) },
					"uid":       func(v *yaml.Node, f string) { u.UID, _ = d.uint32(v, f) },
					"gid":       func(v *yaml.Node, f string) { u.GID = d.optionalUint32(v, f) },
					"groupname": func(v *yaml.Node, f string) { u.GroupName = d.string(v, f) },
					"shell":     func(v *yaml.Node, f string) { u.Shell = d.string(v, f) },
					"homedir":   func(v *yaml.Node, f string) { u.HomeDir = d.string(v, f) },
				})
				a.Users = append(a.Users, u)
			})
		},
		"groups": func(v *yaml.Node, f string) {
			d.list(v, f, func(item *yaml.Node, f string) {
				var g Group
				d.fields(item, f, keysGroup, nil, handlers{
					"groupname": func(v *yaml.Node, f string) { g.GroupName = d.string(v, f) },
					"gid":       func(v *yaml.Node, f string) { g.GID, _ = d.uint32(v, f) },
					"members":   func(v *yaml.Node, f string) { g.Members = d.strings(v, f) },
				})
				a.Groups = append(a.Groups, g)
			})
		},
	})
}

// entries reads a list of {name, content} (certificates.additional,
// contents.runtime_keyring).
func (d *decoder) entries(n *yaml.Node, field string) []NamedContent {
	var out []NamedContent
	d.list(n, field, func(item *yaml.Node, f string) {
		var e NamedContent
		d.fields(item, f, keysEntry, nil, handlers{
			"name":    func(v *yaml.Node, f string) { e.Name = d.string(v, f) },
			"content": func(v *yaml.Node, f string) { e.Content = d.string(v, f) },
		})
		out = append(out, e)
	})
	return out
}

// fields reads a mapping with a fixed set of keys, in file order, calling the
// handler of each accepted key. It reports keys that are unsupported or
// unknown, merge keys, and keys given twice. A null node is an empty mapping;
// anything else but a mapping is a type error, and the field is broken.
func (d *decoder) fields(n *yaml.Node, field string, accepted, unsupported []string, h handlers) {
	d.mapping(n, field, func(key, f string, k, v *yaml.Node) {
		switch {
		case h[key] != nil:
			d.at(f, v)
			h[key](v, f)
		case slices.Contains(unsupported, key):
			d.errorAt(k, f, "not supported by Custom Assembly")
		case field == "" && nestedKeys[key] != "":
			d.errorAt(k, f, "unknown key (did you mean %q?)", nestedKeys[key])
		default:
			d.errorAt(k, f, "unknown key%s", suggest(key, accepted))
		}
	})
}

// mapping walks a mapping in file order, calling each for every entry with
// a readable key given once (f is the entry's field path). It reports
// non-scalar and merge keys and keys given twice. A null node is an empty
// mapping; anything else but a mapping is a type error, and the field is
// broken.
func (d *decoder) mapping(n *yaml.Node, field string, each func(key, f string, k, v *yaml.Node)) {
	m := deref(n)
	if isNull(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.wrongType(n, field, "a mapping")
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key, ok := d.key(k, field)
		if !ok {
			continue
		}
		f := keyField(field, key)
		if first, dup := seen[key]; dup {
			d.errorAt(k, f, "duplicate key, first at line %d", first.Line)
			continue
		}
		seen[key] = k
		each(key, f, k, v)
	}
}

// key reads a mapping key. Keys must be scalars; "<<" merge keys are not
// supported.
func (d *decoder) key(k *yaml.Node, field string) (string, bool) {
	r := deref(k)
	if r.Kind != yaml.ScalarNode {
		d.errorAt(k, field, "expected a string key, got %s", kindOf(r))
		return "", false
	}
	if r.ShortTag() == "!!merge" {
		d.errorAt(k, keyField(field, "<<"), "merge keys are not supported")
		return "", false
	}
	return d.text(r, field)
}

// list reads a sequence, calling item for each entry with its path. A null
// node is an empty list.
func (d *decoder) list(n *yaml.Node, field string, item func(n *yaml.Node, field string)) {
	s := deref(n)
	if isNull(s) {
		return
	}
	if s.Kind != yaml.SequenceNode {
		d.wrongType(n, field, "a list")
		return
	}
	for i, it := range s.Content {
		f := indexField(field, i)
		d.at(f, it)
		item(it, f)
	}
}

// strings reads a list of strings. An item that is not a scalar is reported
// and kept as "" so that later items keep their index.
func (d *decoder) strings(n *yaml.Node, field string) []string {
	var out []string
	d.list(n, field, func(it *yaml.Node, f string) {
		out = append(out, d.string(it, f))
	})
	return out
}

// stringMap reads a mapping of user-named keys to strings (environment,
// annotations). Problems about a key are placed at the key.
func (d *decoder) stringMap(n *yaml.Node, field string) map[string]string {
	var out map[string]string
	d.mapping(n, field, func(key, f string, k, v *yaml.Node) {
		d.at(f, k)
		if out == nil {
			out = map[string]string{}
		}
		// A value of the wrong type is reported at the value; the key
		// is kept so that the rules about keys still run.
		sv := deref(v)
		if sv.Kind != yaml.ScalarNode {
			d.errorAt(v, f, "expected a string, got %s", kindOf(sv))
			out[key] = ""
			return
		}
		out[key], _ = d.text(sv, f)
	})
	return out
}

// string reads a scalar as text: any scalar is taken with its literal text
// ("3000", "true"), as yaml.v3 does when decoding into a string; null is "".
// Lists and mappings are type errors, and the field is broken.
func (d *decoder) string(n *yaml.Node, field string) string {
	s := deref(n)
	if s.Kind != yaml.ScalarNode {
		d.wrongType(n, field, "a string")
		return ""
	}
	v, ok := d.text(s, field)
	if !ok {
		d.broken[field] = true
	}
	return v
}

// uint32 reads an integer from 0 to 2^32-1. null is 0 and not present.
func (d *decoder) uint32(n *yaml.Node, field string) (v uint32, present bool) {
	s := deref(n)
	if isNull(s) {
		return 0, false
	}
	if s.Kind != yaml.ScalarNode || s.ShortTag() != "!!int" {
		d.wrongType(n, field, "an integer")
		return 0, false
	}
	if err := s.Decode(&v); err != nil {
		d.errorAt(n, field, "expected an integer from 0 to 4294967295, got %s", s.Value)
		d.broken[field] = true
		return 0, false
	}
	return v, true
}

// optionalUint32 reads an integer that may be absent (null).
func (d *decoder) optionalUint32(n *yaml.Node, field string) *uint32 {
	v, ok := d.uint32(n, field)
	if !ok {
		return nil
	}
	return &v
}

// wrongType reports that field holds something other than want, and marks
// it broken.
func (d *decoder) wrongType(n *yaml.Node, field, want string) {
	d.errorAt(n, field, "expected %s, got %s", want, kindOf(deref(n)))
	d.broken[field] = true
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// text is a scalar's value as a string: null is "", !!binary is the decoded
// bytes, which must be UTF-8 text as the API's strings are, and anything
// else its literal text. ok is false, and the problem reported, otherwise.
func (d *decoder) text(n *yaml.Node, field string) (string, bool) {
	switch n.ShortTag() {
	case "!!null":
		return "", true
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil || !utf8.Valid(b) {
			d.errorAt(n, field, "expected a string, got binary data that is not UTF-8 text")
			return "", false
		}
		return string(b), true
	}
	return n.Value, true
}

// kindOf names what a node holds, for type errors.
func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		case "!!timestamp":
			return "a timestamp"
		case "!!binary":
			return "binary data"
		}
		return "a scalar tagged " + n.ShortTag()
	}
	return "an alias"
}

// suggest returns ` (did you mean "run-as"?)` when key differs from an
// accepted key only in case, "_" or "-" (protojson and Go spellings such as
// runtimeRepositories, runAs, userName).
func suggest(key string, accepted []string) string {
	fold := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	var hits []string
	for _, a := range accepted {
		if fold(a) == fold(key) {
			hits = append(hits, a)
		}
	}
	if len(hits) == 0 {
		return ""
	}
	slices.Sort(hits)
	return ` (did you mean "` + hits[0] + `"?)`
}
