package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// Change is one difference between two overlays, for humans and logs.
//
// Field is what changed, singular for one item: "package",
// "runtime_repository", "runtime_repositories" (order or repeats of the
// list), "runtime_key", "environment", "annotation", "accounts" (Key
// "run-as"), "user", "group", "certificate", "certificate_provider". Key names
// the item. Before and After are the values, empty when not applicable.
// Certificate and key contents appear only as a short SHA-256
// ("sha256:0123456789ab…"), and credentials in repository URLs are masked, so
// a Change is safe to log. Key, Before and After otherwise hold the values
// as they are, which a live overlay does not bound; String shows a value
// longer than 128 bytes by prefix, length and hash, so a rendered change is
// always short.
type Change struct {
	Op            byte // '+' added, '-' removed, '~' changed
	Field, Key    string
	Before, After string
}

// fieldOrder is the order of fields in a diff: the file's.
var fieldOrder = []string{
	"package", "runtime_repository", "runtime_repositories", "runtime_key",
	"environment", "annotation", "accounts", "user", "group",
	"certificate", "certificate_provider",
}

// Diff returns what changes from before to after, on canonical forms (so
// package order, line endings in certificates and the like are not changes),
// sorted by field in file order, then key. It is pure, and empty when
// Equal(before, after).
func Diff(before, after Overlay) []Change {
	b, a := Canonical(before), Canonical(after)
	var cs []Change
	cs = append(cs, setDiff("package", b.Packages, a.Packages)...)
	cs = append(cs, repositoryDiff(b.RuntimeRepositories, a.RuntimeRepositories)...)
	cs = append(cs, entryDiff("runtime_key", b.RuntimeKeyring, a.RuntimeKeyring)...)
	cs = append(cs, mapDiff("environment", b.Environment, a.Environment)...)
	cs = append(cs, mapDiff("annotation", b.Annotations, a.Annotations)...)
	cs = append(cs, valueDiff("accounts", "run-as", b.Accounts.RunAs, a.Accounts.RunAs)...)
	cs = append(cs, userDiff(b.Accounts.Users, a.Accounts.Users)...)
	cs = append(cs, groupDiff(b.Accounts.Groups, a.Accounts.Groups)...)
	cs = append(cs, entryDiff("certificate", b.Certificates, a.Certificates)...)
	cs = append(cs, setDiff("certificate_provider", b.CertificateProviders, a.CertificateProviders)...)
	sort.SliceStable(cs, func(i, j int) bool {
		ri, rj := slices.Index(fieldOrder, cs[i].Field), slices.Index(fieldOrder, cs[j].Field)
		if ri != rj {
			return ri < rj
		}
		return cs[i].Key < cs[j].Key
	})
	return cs
}

// String renders the change on one line: "+ package curl",
// "~ environment LOG_LEVEL: info -> debug", "+ certificate internal-ca
// sha256:0123456789ab…", "~ user appuser: uid 1 -> 2". Values that are empty
// or have spaces at an end, quotes or control characters are quoted.
func (c Change) String() string {
	var b strings.Builder
	b.WriteByte(c.Op)
	b.WriteByte(' ')
	b.WriteString(c.Field)
	if c.Key != "" || c.Field != "runtime_repositories" {
		b.WriteByte(' ')
		b.WriteString(show(c.Key))
	}
	sep := ": "
	if c.Field == "certificate" || c.Field == "runtime_key" {
		sep = " "
	}
	// Fields whose value is always shown, even when empty.
	valued := c.Field == "environment" || c.Field == "annotation" || c.Field == "accounts"
	switch c.Op {
	case '+':
		if c.After != "" || valued {
			b.WriteString(sep + show(c.After))
		}
	case '-':
		if c.Before != "" || valued {
			b.WriteString(sep + show(c.Before))
		}
	default:
		before, after := c.Before, c.After
		if c.Field == "user" || c.Field == "group" {
			// "uid 1" -> "uid 2" reads "uid 1 -> 2".
			if attr, _, ok := strings.Cut(before, " "); ok && strings.HasPrefix(after, attr+" ") {
				after = after[len(attr)+1:]
			}
			b.WriteString(": " + bounded(before) + " -> " + bounded(after))
			break
		}
		b.WriteString(": " + show(before) + " -> " + show(after))
	}
	return b.String()
}

// maxShown is the longest value a diff line shows whole.
const maxShown = 128

// show is s as a diff line shows it: quoted when needed, and by prefix,
// length and hash when longer than maxShown.
func show(s string) string {
	if len(s) > maxShown {
		return abbreviate(s)
	}
	return quoteIfNeeded(s)
}

// bounded is s, or its abbreviation when longer than maxShown (user and
// group attributes, shown unquoted).
func bounded(s string) string {
	if len(s) > maxShown {
		return abbreviate(s)
	}
	return s
}

// quoteIfNeeded quotes s when it would not read back unambiguously on a
// diff line.
func quoteIfNeeded(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.Contains(s, " -> ") || strings.ContainsRune(s, '"') ||
		strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// setDiff compares two sorted, deduplicated lists.
func setDiff(field string, before, after []string) []Change {
	var cs []Change
	for _, s := range before {
		if _, ok := slices.BinarySearch(after, s); !ok {
			cs = append(cs, Change{Op: '-', Field: field, Key: s})
		}
	}
	for _, s := range after {
		if _, ok := slices.BinarySearch(before, s); !ok {
			cs = append(cs, Change{Op: '+', Field: field, Key: s})
		}
	}
	return cs
}

// repositoryDiff compares runtime repositories: additions and removals one
// by one, then, if the repositories both sides share are in another order or
// repeated differently, the whole list.
func repositoryDiff(before, after []string) []Change {
	bs, as := sortedUnique(before), sortedUnique(after)
	cs := setDiff("runtime_repository", bs, as)
	for i := range cs {
		cs[i].Key = redactRepository(cs[i].Key)
	}
	keep := func(list, other []string) []string {
		var out []string
		for _, s := range list {
			if _, ok := slices.BinarySearch(other, s); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if !slices.Equal(keep(before, as), keep(after, bs)) {
		cs = append(cs, Change{Op: '~', Field: "runtime_repositories",
			Before: joinRepositories(before), After: joinRepositories(after)})
	}
	return cs
}

func joinRepositories(list []string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = redactRepository(s)
	}
	return strings.Join(out, ", ")
}

// redactRepository masks what in a repository URL may be a credential:
// its whole user-info (a mirror's token is often the user name alone, which
// redact.URL keeps) and, through redact.URL, query values and anything
// credential-shaped, with the one placeholder redact.Placeholder.
func redactRepository(repo string) string {
	tag, raw := "", repo
	if strings.HasPrefix(repo, "@") {
		if t, rest, ok := strings.Cut(repo, " "); ok {
			tag, raw = t+" ", rest
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			u.User = url.User(redact.Placeholder)
		}
		return tag + redact.URL(u.String())
	}
	// Unparsable: mask anything between "://" and the last "@".
	if i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); i >= 0 && j > i {
		raw = raw[:i+3] + redact.Placeholder + raw[j:]
	}
	return tag + redact.String(raw)
}

// mapDiff compares environment or annotations.
func mapDiff(field string, before, after map[string]string) []Change {
	keys := sortedKeys(before)
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var cs []Change
	for _, k := range keys {
		b, inB := before[k]
		a, inA := after[k]
		switch {
		case !inA:
			cs = append(cs, Change{Op: '-', Field: field, Key: k, Before: b})
		case !inB:
			cs = append(cs, Change{Op: '+', Field: field, Key: k, After: a})
		case a != b:
			cs = append(cs, Change{Op: '~', Field: field, Key: k, Before: b, After: a})
		}
	}
	return cs
}

// valueDiff compares one optional value.
func valueDiff(field, key, before, after string) []Change {
	switch {
	case before == after:
		return nil
	case before == "":
		return []Change{{Op: '+', Field: field, Key: key, After: after}}
	case after == "":
		return []Change{{Op: '-', Field: field, Key: key, Before: before}}
	}
	return []Change{{Op: '~', Field: field, Key: key, Before: before, After: after}}
}

// pairByName matches the items of two lists sorted by name: items of one
// name are paired in order, so an invalid overlay repeating a name still
// diffs. It calls both for each pair and one for each unpaired item.
func pairByName[T any](before, after []T, name func(T) string, both func(b, a T), added, removed func(T)) {
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && name(before[i]) < name(after[j])):
			removed(before[i])
			i++
		case i == len(before) || name(after[j]) < name(before[i]):
			added(after[j])
			j++
		default:
			both(before[i], after[j])
			i, j = i+1, j+1
		}
	}
}

// entryDiff compares certificates or keyring entries by name; contents show
// only as a short digest.
func entryDiff(field string, before, after []NamedContent) []Change {
	var cs []Change
	pairByName(before, after, func(e NamedContent) string { return e.Name },
		func(b, a NamedContent) {
			if b.Content != a.Content {
				cs = append(cs, Change{Op: '~', Field: field, Key: a.Name, Before: digest(b.Content), After: digest(a.Content)})
			}
		},
		func(a NamedContent) {
			cs = append(cs, Change{Op: '+', Field: field, Key: a.Name, After: digest(a.Content)})
		},
		func(b NamedContent) {
			cs = append(cs, Change{Op: '-', Field: field, Key: b.Name, Before: digest(b.Content)})
		})
	return cs
}

// digest is a short SHA-256 of content, enough to tell contents apart in a
// diff without showing them.
func digest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(sum[:6]) + "…"
}

// userDiff compares users by name, one change per changed attribute.
func userDiff(before, after []User) []Change {
	var cs []Change
	pairByName(before, after, func(u User) string { return u.UserName },
		func(b, a User) {
			for _, at := range []struct{ name, b, a string }{
				{"uid", strconv.FormatUint(uint64(b.UID), 10), strconv.FormatUint(uint64(a.UID), 10)},
				{"gid", optionalID(b.GID), optionalID(a.GID)},
				{"groupname", orNone(b.GroupName), orNone(a.GroupName)},
				{"shell", orNone(b.Shell), orNone(a.Shell)},
				{"homedir", orNone(b.HomeDir), orNone(a.HomeDir)},
			} {
				if at.b != at.a {
					cs = append(cs, Change{Op: '~', Field: "user", Key: a.UserName, Before: at.name + " " + at.b, After: at.name + " " + at.a})
				}
			}
		},
		func(a User) { cs = append(cs, Change{Op: '+', Field: "user", Key: a.UserName}) },
		func(b User) { cs = append(cs, Change{Op: '-', Field: "user", Key: b.UserName}) })
	return cs
}

// groupDiff compares groups by name, one change per changed attribute.
func groupDiff(before, after []Group) []Change {
	var cs []Change
	pairByName(before, after, func(g Group) string { return g.GroupName },
		func(b, a Group) {
			if b.GID != a.GID {
				cs = append(cs, Change{Op: '~', Field: "group", Key: a.GroupName,
					Before: "gid " + strconv.FormatUint(uint64(b.GID), 10), After: "gid " + strconv.FormatUint(uint64(a.GID), 10)})
			}
			if !slices.Equal(b.Members, a.Members) {
				cs = append(cs, Change{Op: '~', Field: "group", Key: a.GroupName,
					Before: "members " + orNone(strings.Join(b.Members, ",")), After: "members " + orNone(strings.Join(a.Members, ","))})
			}
		},
		func(a Group) { cs = append(cs, Change{Op: '+', Field: "group", Key: a.GroupName}) },
		func(b Group) { cs = append(cs, Change{Op: '-', Field: "group", Key: b.GroupName}) })
	return cs
}

func optionalID(id *uint32) string {
	if id == nil {
		return "(none)"
	}
	return strconv.FormatUint(uint64(*id), 10)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
