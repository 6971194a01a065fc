package overlay

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"reflect"
	"slices"
	"strings"
)

// Canonical returns o in the form two overlays that mean the same are equal
// in: packages and certificate providers sorted and deduplicated; keyring
// entries and certificates sorted by name (then content) with content
// normalized (CRLF to LF, trailing whitespace of each line trimmed, exactly
// one trailing newline); users sorted by name, groups by name, group members
// sorted; empty slices and maps nil. Runtime repositories keep their order,
// which apk honours. o is not modified.
func Canonical(o Overlay) Overlay {
	return Overlay{
		Packages:             sortedUnique(o.Packages),
		RuntimeRepositories:  cloneStrings(o.RuntimeRepositories),
		RuntimeKeyring:       canonicalEntries(o.RuntimeKeyring),
		Environment:          cloneMap(o.Environment),
		Annotations:          cloneMap(o.Annotations),
		Accounts:             canonicalAccounts(o.Accounts),
		Certificates:         canonicalEntries(o.Certificates),
		CertificateProviders: sortedUnique(o.CertificateProviders),
	}
}

// Equal reports whether a and b are the same overlay: Canonical(a) equals
// Canonical(b). nil, {} and all-empty sections are equal.
func Equal(a, b Overlay) bool {
	return reflect.DeepEqual(Canonical(a), Canonical(b))
}

// Hash returns "sha256:<hex>" of a stable, unambiguous encoding of
// Canonical(o): equal overlays have equal hashes, across processes and
// versions of this package (the encoding is fixed here, by WriteFields and
// hashEncoder, not borrowed from a serializer).
func Hash(o Overlay) string {
	h := sha256.New()
	WriteFields(hashEncoder{h}, Canonical(o))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// hashEncoder writes values length-prefixed, so that no two different
// overlays encode to the same bytes.
type hashEncoder struct{ h hash.Hash }

func (e hashEncoder) WriteUint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	e.h.Write(b[:binary.PutUvarint(b[:], v)])
}

func (e hashEncoder) WriteString(s string) {
	e.WriteUint(uint64(len(s)))
	e.h.Write([]byte(s))
}

// WriteStringMap writes the entries in the order of their keys.
func (e hashEncoder) WriteStringMap(m map[string]string) {
	e.WriteUint(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		e.WriteString(k)
		e.WriteString(m[k])
	}
}

// normalizeContent makes PEM content compare by meaning: CRLF line ends
// become LF, trailing whitespace of every line goes, and the content ends in
// exactly one newline (empty, or only whitespace, becomes empty).
func normalizeContent(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r\v\f")
	}
	s = strings.TrimRight(strings.Join(lines, "\n"), "\n")
	if s == "" {
		return ""
	}
	return s + "\n"
}

func canonicalEntries(in []NamedContent) []NamedContent {
	if len(in) == 0 {
		return nil
	}
	out := make([]NamedContent, len(in))
	for i, e := range in {
		out[i] = NamedContent{Name: e.Name, Content: normalizeContent(e.Content)}
	}
	slices.SortFunc(out, func(a, b NamedContent) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Content, b.Content))
	})
	return out
}

func canonicalAccounts(a Accounts) Accounts {
	out := Accounts{RunAs: a.RunAs}
	for _, u := range a.Users {
		if u.GID != nil {
			gid := *u.GID
			u.GID = &gid
		}
		out.Users = append(out.Users, u)
	}
	slices.SortFunc(out.Users, compareUsers)
	for _, g := range a.Groups {
		g.Members = cloneStrings(g.Members)
		slices.Sort(g.Members)
		out.Groups = append(out.Groups, g)
	}
	slices.SortFunc(out.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.GroupName, b.GroupName), cmp.Compare(a.GID, b.GID),
			slices.Compare(a.Members, b.Members))
	})
	return out
}

// compareUsers orders users by every field, name first, so that the order is
// total even for invalid overlays that repeat a name.
func compareUsers(a, b User) int {
	return cmp.Or(
		cmp.Compare(a.UserName, b.UserName),
		cmp.Compare(a.UID, b.UID),
		compareGID(a.GID, b.GID),
		cmp.Compare(a.GroupName, b.GroupName),
		cmp.Compare(a.Shell, b.Shell),
		cmp.Compare(a.HomeDir, b.HomeDir),
	)
}

func compareGID(a, b *uint32) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

func sortedUnique(in []string) []string {
	out := cloneStrings(in)
	slices.Sort(out)
	return slices.Compact(out)
}
