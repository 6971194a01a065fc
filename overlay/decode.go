package overlay

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/internal/editdist"
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
// level by mistake: an unknown top-level key near one of them suggests its
// full path.
var nestedKeys = []string{
	"contents.packages", "contents.runtime_repositories", "contents.runtime_keyring",
	"accounts.run-as", "accounts.users", "accounts.groups",
	"certificates.additional", "certificates.providers",
}

// newerFeatures maps top-level keys of Custom Assembly features that the live
// service has and this build's SDK (chainguard.dev/sdk v0.1.223) does not to
// the feature's name. This version cannot write them without losing them, so
// a file holding one is refused with a message that says so, not "unknown
// key". Guarded Entrypoint's four keys are in Chainguard's docs
// (custom-assembly/guarded-entrypoint); Custom Assembly Overlays are separate
// API resources (v2beta1 OverlaysService and OverlayBindingsService, with a
// tag_selector), so their names in a file are a mistake this catches too.
var newerFeatures = map[string]string{
	"guarded_entrypoint": "Guarded Entrypoint",
	"fail_mode":          "Guarded Entrypoint",
	"preflight":          "Guarded Entrypoint",
	"command_override":   "Guarded Entrypoint",
	"overlays":           "Custom Assembly Overlays and their bindings",
	"overlay_bindings":   "Custom Assembly Overlays and their bindings",
	"bindings":           "Custom Assembly Overlays and their bindings",
	"tag_selector":       "Custom Assembly Overlays and their bindings",
}

// handlers maps each accepted key of one mapping to the code that reads its
// value; field is the value's path.
type handlers map[string]func(v *yaml.Node, field string)

// overlay reads the top-level mapping.
func (d *decoder) overlay(root *yaml.Node, o *Overlay) {
	d.fields(root, "", keysTop, unsupportedTop, handlers{
		"contents": func(v *yaml.Node, f string) {
			d.fields(v, f, keysContents, unsupportedContents, handlers{
				"packages":             func(v *yaml.Node, f string) { o.Packages = d.strings(v, f, MaxNameBytes) },
				"runtime_repositories": func(v *yaml.Node, f string) { o.RuntimeRepositories = d.strings(v, f, MaxValueBytes) },
				"runtime_keyring":      func(v *yaml.Node, f string) { o.RuntimeKeyring = d.entries(v, f) },
			})
		},
		"environment": func(v *yaml.Node, f string) { o.Environment = d.stringMap(v, f) },
		"annotations": func(v *yaml.Node, f string) { o.Annotations = d.stringMap(v, f) },
		"accounts":    func(v *yaml.Node, f string) { d.accounts(v, f, &o.Accounts) },
		"certificates": func(v *yaml.Node, f string) {
			d.fields(v, f, keysCertificates, nil, handlers{
				"additional": func(v *yaml.Node, f string) { o.Certificates = d.entries(v, f) },
				"providers":  func(v *yaml.Node, f string) { o.CertificateProviders = d.strings(v, f, MaxNameBytes) },
			})
		},
	})
}

func (d *decoder) accounts(n *yaml.Node, field string, a *Accounts) {
	d.fields(n, field, keysAccounts, nil, handlers{
		"run-as": func(v *yaml.Node, f string) { a.RunAs = d.string(v, f, MaxNameBytes) },
		"users":  func(v *yaml.Node, f string) { a.Users = records(d, v, f, keysUser, d.user) },
		"groups": func(v *yaml.Node, f string) { a.Groups = records(d, v, f, keysGroup, d.group) },
	})
}

// user is the handlers of one item of accounts.users.
func (d *decoder) user(u *User) handlers {
	return handlers{
		"username":  func(v *yaml.Node, f string) { u.UserName = d.string(v, f, MaxNameBytes) },
		"uid":       func(v *yaml.Node, f string) { u.UID, _ = d.uint32(v, f) },
		"gid":       func(v *yaml.Node, f string) { u.GID = d.optionalUint32(v, f) },
		"groupname": func(v *yaml.Node, f string) { u.GroupName = d.string(v, f, MaxNameBytes) },
		"shell":     func(v *yaml.Node, f string) { u.Shell = d.string(v, f, MaxValueBytes) },
		"homedir":   func(v *yaml.Node, f string) { u.HomeDir = d.string(v, f, MaxValueBytes) },
	}
}

// group is the handlers of one item of accounts.groups.
func (d *decoder) group(g *Group) handlers {
	return handlers{
		"groupname": func(v *yaml.Node, f string) { g.GroupName = d.string(v, f, MaxNameBytes) },
		"gid":       func(v *yaml.Node, f string) { g.GID, _ = d.uint32(v, f) },
		"members":   func(v *yaml.Node, f string) { g.Members = d.strings(v, f, MaxNameBytes) },
	}
}

// entries reads a list of {name, content} (certificates.additional,
// contents.runtime_keyring).
func (d *decoder) entries(n *yaml.Node, field string) []NamedContent {
	return records(d, n, field, keysEntry, func(e *NamedContent) handlers {
		return handlers{
			"name":    func(v *yaml.Node, f string) { e.Name = d.string(v, f, MaxNameBytes) },
			"content": func(v *yaml.Node, f string) { e.Content = d.string(v, f, 0) },
		}
	})
}

// records reads a list of mappings with the accepted keys (users, groups,
// entries), one T per item in file order: fields gives the handlers that
// set the item's T.
func records[T any](d *decoder, n *yaml.Node, field string, accepted []string, fields func(r *T) handlers) []T {
	var out []T
	d.list(n, field, func(item *yaml.Node, f string) {
		var r T
		d.fields(item, f, accepted, nil, fields(&r))
		out = append(out, r)
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
		case field == "" && newerFeature(key) != "":
			d.errorAt(k, f, "not supported by this version of ca-reconciler (%s)", newerFeature(key))
		default:
			candidates := accepted
			if field == "" {
				candidates = append(slices.Clone(accepted), nestedKeys...)
			}
			if near := nearest(key, candidates); near != "" {
				d.errorAt(k, f, "unknown key; did you mean %s?", near)
				return
			}
			d.errorAt(k, f, "unknown key")
		}
	})
}

// mapping walks a mapping in file order, calling each for every entry with
// a readable key given once (f is the entry's field path). It reports
// non-scalar and merge keys and keys given twice. A null node is an empty
// mapping; anything else but a mapping is a type error, and the field is
// broken.
func (d *decoder) mapping(n *yaml.Node, field string, each func(key, f string, k, v *yaml.Node)) {
	m := d.given(n, field, yaml.MappingNode, "a mapping")
	if m == nil {
		return
	}
	if n := len(m.Content) / 2; n > MaxItems {
		d.tooMany(m, field, n, "entries")
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
	if len(r.Value) > MaxNameBytes {
		d.errorAt(k, field, "key %s is over the limit of %d bytes", abbreviate(r.Value), MaxNameBytes)
		return "", false
	}
	return d.text(r), true
}

// list reads a sequence, calling item for each entry with its path. A null
// node is an empty list.
func (d *decoder) list(n *yaml.Node, field string, item func(n *yaml.Node, field string)) {
	s := d.given(n, field, yaml.SequenceNode, "a list")
	if s == nil {
		return
	}
	if len(s.Content) > MaxItems {
		d.tooMany(n, field, len(s.Content), "items")
		return
	}
	for i, it := range s.Content {
		f := indexField(field, i)
		d.at(f, it)
		item(it, f)
	}
}

// strings reads a list of strings of at most limit bytes each. An item
// that cannot be read is reported and kept as "" so that later items keep
// their index.
func (d *decoder) strings(n *yaml.Node, field string, limit int) []string {
	var out []string
	d.list(n, field, func(it *yaml.Node, f string) {
		out = append(out, d.string(it, f, limit))
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
		if len(sv.Value) > MaxValueBytes {
			d.errorAt(v, f, "value %s is over the limit of %d bytes", showLong(f, sv.Value), MaxValueBytes)
			out[key] = ""
			return
		}
		out[key] = d.text(sv)
	})
	return out
}

// string reads a scalar as text: any scalar is taken with its literal text
// ("3000", "true"), as yaml.v3 does when decoding into a string; null is "".
// Lists and mappings are type errors, and so is text over limit bytes
// (0: no limit of its own); the field is then broken.
func (d *decoder) string(n *yaml.Node, field string, limit int) string {
	s := deref(n)
	if s.Kind != yaml.ScalarNode {
		d.wrongType(n, field, "a string")
		return ""
	}
	if limit > 0 && len(s.Value) > limit {
		d.tooLong(n, field, s.Value, limit)
		return ""
	}
	return d.text(s)
}

// uint32 reads an integer from 0 to 2^32-1. null is 0 and not present.
func (d *decoder) uint32(n *yaml.Node, field string) (v uint32, present bool) {
	s := d.given(n, field, yaml.ScalarNode, "an integer")
	if s == nil {
		return 0, false
	}
	if s.ShortTag() != "!!int" {
		d.wrongType(n, field, "an integer")
		return 0, false
	}
	// A scalar decodes in bounded time (aliases are already followed).
	if err := s.Decode(&v); err != nil {
		d.errorAt(n, field, "expected an integer from 0 to 4294967295, got %s", shown(s.Value))
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

// given is n with aliases followed when it holds a value of kind: nil when
// it is null (not given), and nil with a type error (want is what was
// expected) when it holds anything else.
func (d *decoder) given(n *yaml.Node, field string, kind yaml.Kind, want string) *yaml.Node {
	v := deref(n)
	if isNull(v) {
		return nil
	}
	if v.Kind != kind {
		d.wrongType(n, field, want)
		return nil
	}
	return v
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

// text is a scalar's value as a string: null is "", anything else its
// literal text. Explicit tags other than the core schema's never get here
// (limits refuses them).
func (d *decoder) text(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return ""
	}
	return n.Value
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

// fold is how keys are compared for suggestions: without case, "_" or "-",
// so that protojson and Go spellings (runtimeRepositories, runAs, userName,
// guardedEntrypoint) match the file format's.
func fold(s string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}

// newerFeature names the newer feature key belongs to, or "".
func newerFeature(key string) string {
	for k, feature := range newerFeatures {
		if fold(k) == fold(key) {
			return feature
		}
	}
	return ""
}

// nearest returns the candidate an unknown key was most likely meant to be,
// or "" when none is close: one that differs only in case, "_" or "-"; else
// the one fewest edits away (an insertion, deletion, substitution or swap of
// two neighbours each), allowing 1 edit for keys of up to 4 characters, 2 up
// to 8 and 3 beyond; else one the key abbreviates (its first letter, then the
// rest of its letters in order, as "pkgs" abbreviates "packages"). A
// candidate "a.b" is matched by its last part and returned whole. Ties go to
// the candidate first in alphabetical order.
func nearest(key string, candidates []string) string {
	k := fold(key)
	if k == "" {
		return ""
	}
	budget := 3
	switch {
	case len(k) <= 4:
		budget = 1
	case len(k) <= 8:
		budget = 2
	}
	best, bestScore := "", budget+2
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		last := c[strings.LastIndex(c, ".")+1:]
		f := fold(last)
		score := budget + 2 // no match
		switch d := editdist.Within(k, f, budget); {
		case d <= budget: // 0 when f is k
			score = d
		case len(k) >= 3 && k[0] == f[0] && isSubsequence(k, f):
			score = budget + 1
		}
		if score < bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// isSubsequence reports whether the bytes of a appear in b in order.
func isSubsequence(a, b string) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}
