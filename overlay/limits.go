package overlay

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on one file (see the package doc, "Limits"), so that a hostile or
// broken file has a bounded cost everywhere it goes (parse, diff, logs,
// /status, the page, the write). Each is checked before what it bounds is
// expanded or stored, and reported as a problem at the line and column where
// the file crosses it.
const (
	// MaxFileBytes is the largest file read: 1 MiB. The most content the
	// service takes is 512 KiB of runtime keys and 50 KiB of
	// certificates, so a real overlay is far smaller.
	MaxFileBytes = 1 << 20
	// MaxExpandedBytes bounds the file with every alias replaced by what it
	// names: the bytes of every scalar (keys and values) plus one for each
	// node. 1 MiB, the same as the file: anchors save typing, never let an
	// overlay hold more than a file could.
	MaxExpandedBytes = 1 << 20
	// MaxAliases is the number of alias uses, counting those reached
	// through other aliases (a billion laughs has few aliases in the text
	// and a billion in use).
	MaxAliases = 1000
	// MaxNameBytes bounds every map key and every name: package names,
	// runtime key and certificate names, user and group names, run-as,
	// group members and certificate providers (apk package names are far
	// shorter; Linux user names are at most 32 bytes).
	MaxNameBytes = 256
	// MaxValueBytes bounds every other string but certificate and key
	// contents: environment and annotation values, runtime repository
	// URLs, shell and homedir. Contents are bounded by their sections'
	// totals (50 KiB and 512 KiB).
	MaxValueBytes = 16 << 10
	// MaxItems bounds the entries of any one list or map (packages,
	// environment, annotations, users, groups, members, ...).
	MaxItems = 1000
	// MaxEncodedBytes bounds the overlay's protobuf encoding (EncodedSize):
	// 1 MiB. The API's gRPC server refuses a request over 4 MiB (grpc-go's
	// default receive limit) with ResourceExhausted, and the request also
	// carries the rest of the repo and every field of the live overlay
	// that a write keeps; 1 MiB leaves that room.
	MaxEncodedBytes = 1 << 20
	// MaxProblems is the most problems reported for one file; a final
	// problem says how many more there were.
	MaxProblems = 100
)

// coreTags are the YAML tags of the core schema, the only explicit tags a
// file may use. Any other (!!binary, !!timestamp, !!set, !custom) would
// change what a value means to one YAML reader and not to another.
var coreTags = []string{"!!str", "!!int", "!!null", "!!bool", "!!float", "!!map", "!!seq"}

// limiter walks a parsed document once, before anything is decoded from it:
// it checks explicit tags and computes, for each node, its expanded size
// and the alias uses inside it, memoized, so that its cost is linear in the
// file whatever the aliases would expand to.
type limiter struct {
	d *decoder
	// size and aliases of nodes already measured; visiting marks nodes
	// being measured, to catch an alias to a node that holds it.
	size     map[*yaml.Node]int
	aliases  map[*yaml.Node]int
	visiting map[*yaml.Node]bool
	// totals of the document so far, in document order.
	total, uses int
	// failed: a total crossed its limit, and the walk stopped; refused: a
	// tag is not allowed (every such tag is reported).
	failed, refused bool
}

// limits checks the document at doc and reports whether it is within every
// limit that must hold before decoding.
func (d *decoder) limits(doc *yaml.Node) bool {
	l := &limiter{d: d, size: map[*yaml.Node]int{}, aliases: map[*yaml.Node]int{}, visiting: map[*yaml.Node]bool{}}
	l.walk(doc, "")
	return !l.failed && !l.refused
}

// walk visits n, at field, and everything under it in document order,
// adding each node's expanded size and alias uses to the totals and
// stopping at the first node where a total crosses its limit.
func (l *limiter) walk(n *yaml.Node, field string) {
	if n == nil || l.failed {
		return
	}
	if n.Style&yaml.TaggedStyle != 0 && !slices.Contains(coreTags, n.ShortTag()) {
		l.d.errorAt(n, field, "YAML tag %s is not supported (only the core schema's: %s)", quote(n.Tag), "!!str, !!int, !!float, !!bool, !!null, !!map, !!seq")
		l.refused = true
	}
	if n.Kind == yaml.AliasNode {
		size, uses, ok := l.measure(n.Alias)
		if !ok {
			l.d.errorAt(n, field, "alias *%s refers to a node that contains it", shown(n.Value))
			l.failed = true
			return
		}
		l.add(n, field, 1+size, 1+uses)
		return
	}
	l.add(n, field, 1+len(n.Value), 0)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			l.walk(k, field)
			f := field
			if k.Kind == yaml.ScalarNode && len(k.Value) <= MaxNameBytes {
				f = keyField(field, k.Value)
			}
			l.walk(v, f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			l.walk(c, indexField(field, i))
		}
	default:
		for _, c := range n.Content {
			l.walk(c, field)
		}
	}
}

// add adds one node's share to the totals and reports a crossed limit at n.
func (l *limiter) add(n *yaml.Node, field string, size, uses int) {
	if l.failed {
		return
	}
	l.total += size
	l.uses += uses
	switch {
	case l.total > MaxExpandedBytes:
		l.d.errorAt(n, field, "the file expands to more than %d bytes with its aliases replaced (limit 1 MiB)", MaxExpandedBytes)
		l.failed = true
	case l.uses > MaxAliases:
		l.d.errorAt(n, field, "more than %d alias uses, counting aliases inside aliased nodes", MaxAliases)
		l.failed = true
	}
}

// measure returns the expanded size of n and the alias uses inside it,
// each capped just past its limit so that sums cannot overflow; ok is false
// when n contains an alias to itself or to a node holding it.
func (l *limiter) measure(n *yaml.Node) (size, uses int, ok bool) {
	if n == nil {
		return 0, 0, true
	}
	if s, done := l.size[n]; done {
		return s, l.aliases[n], true
	}
	if l.visiting[n] {
		return 0, 0, false
	}
	l.visiting[n] = true
	defer delete(l.visiting, n)
	if n.Kind == yaml.AliasNode {
		s, u, ok := l.measure(n.Alias)
		if !ok {
			return 0, 0, false
		}
		size, uses = 1+s, 1+u
	} else {
		size = 1 + len(n.Value)
		for _, c := range n.Content {
			s, u, ok := l.measure(c)
			if !ok {
				return 0, 0, false
			}
			size, uses = min(size+s, MaxExpandedBytes+1), min(uses+u, MaxAliases+1)
		}
	}
	l.size[n], l.aliases[n] = size, uses
	return size, uses, true
}

// tooLong reports a string over its limit, showing it as showLong does,
// and marks the field broken.
func (d *decoder) tooLong(n *yaml.Node, field, s string, limit int) {
	d.errorAt(n, field, "%s is over the limit of %d bytes", showLong(field, s), limit)
	d.broken[field] = true
}

// showLong shows a value too long to quote: by prefix, length and hash,
// except where a prefix may hold a credential (an environment value, a
// runtime repository URL with user-info), which shows by length and hash
// only.
func showLong(field, s string) string {
	if strings.HasPrefix(field, "environment") || strings.HasPrefix(field, "contents.runtime_repositories") {
		return fingerprint(s)
	}
	return abbreviate(s)
}

// tooMany reports a list or map over MaxItems, and marks the field broken.
func (d *decoder) tooMany(n *yaml.Node, field string, count int, what string) {
	d.errorAt(n, field, "%d %s, over the limit of %d", count, what, MaxItems)
	d.broken[field] = true
}

// capProblems keeps the first MaxProblems problems (in the order given)
// and replaces the rest with one that counts them, placed at the first one
// left out.
func capProblems(ps Problems) Problems {
	if len(ps) <= MaxProblems {
		return ps
	}
	rest := ps[MaxProblems]
	more := Problem{File: rest.File, Line: rest.Line, Column: rest.Column,
		Message: fmt.Sprintf("%d more problems not shown", len(ps)-MaxProblems)}
	return append(ps[:MaxProblems:MaxProblems], more)
}
