package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlErrLine splits yaml.v3's "yaml: line N: message" errors.
var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parsed is one parsed file.
type Parsed struct {
	// Overlay is what the file asks for (partial when there are errors).
	Overlay Overlay
	// Warnings are problems of severity warning, sorted by position: the
	// service accepts them and the file is still applied.
	Warnings Problems
	// Positions maps a field path as Problems name it
	// ("contents.packages[1]", "environment.PORT", "accounts.users[0].uid")
	// to where it is in the file: the value of a fixed key, each item of a
	// list, and the key of each entry of environment and annotations (whose
	// number the limits bound).
	Positions map[string]Position
}

// Position is a place in a file, 1-based; the column counts characters.
type Position struct{ Line, Column int }

// Parser parses overlay files. Its zero value is ready to use.
type Parser struct {
	// Now is the time certificates are checked against for the "expired"
	// warning; nil is time.Now.
	Now func() time.Time
}

func (p Parser) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Parse reads one overlay file strictly: ParseFile without warnings and
// positions, for callers that need only the overlay.
func Parse(file string, data []byte) (Overlay, error) {
	parsed, err := Parser{}.ParseFile(file, data)
	return parsed.Overlay, err
}

// ParseFile is Parser{}.ParseFile: certificates are checked against the
// wall clock.
func ParseFile(file string, data []byte) (Parsed, error) {
	return Parser{}.ParseFile(file, data)
}

// ParseFile reads one overlay file strictly. It works on yaml.Node rather
// than decoding into structs, so every problem has a line and column: YAML
// syntax, more than one document, unknown keys, keys apko has but Custom
// Assembly does not take, duplicate keys, wrong types, and every rule of
// Validate.
//
// The error, when anything is wrong, is a Problems holding every problem
// of severity error, sorted by line then column, each naming file, line,
// column and field; the Parsed is then partial. Warnings are in Parsed
// either way. An empty file, a file of comments only, and "{}" are the empty
// overlay, which is valid: it clears the repo's customization.
func (p Parser) ParseFile(file string, data []byte) (Parsed, error) {
	d := newDecoder(file)
	root, ok := d.document(data)
	if !ok {
		sortByPosition(d.problems)
		return Parsed{Positions: d.pos}, capProblems(d.problems).Err()
	}
	return d.finish(root, p.now())
}

// ParseNode is Parse for an overlay that is part of a larger YAML document
// already decoded (for example the custom_overlay of an emulator seed): n is
// the overlay's mapping node, and problems carry its lines and columns in
// that document, named by file. A nil or null node is the empty overlay.
func ParseNode(file string, n *yaml.Node) (Overlay, error) {
	parsed, err := Parser{}.ParseNode(file, n)
	return parsed.Overlay, err
}

// ParseNode is ParseFile for an overlay inside a larger YAML document (see
// the package-level ParseNode).
func (p Parser) ParseNode(file string, n *yaml.Node) (Parsed, error) {
	d := newDecoder(file)
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n != nil && !d.limits(n) {
		return Parsed{Positions: d.pos}, d.problems.Err()
	}
	root := deref(n)
	switch {
	case root == nil || isNull(root):
		root = nil
	case root.Kind != yaml.MappingNode:
		d.errorAt(n, "", "expected a mapping, got %s", kindOf(root))
		return Parsed{Positions: d.pos}, d.problems.Err()
	}
	return d.finish(root, p.now())
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]Position{}, broken: map[string]bool{}}
}

// finish reads the overlay at root (nil: empty) and validates it, checking
// certificates against now.
func (d *decoder) finish(root *yaml.Node, now time.Time) (Parsed, error) {
	var o Overlay
	if root != nil {
		d.at("", root)
		d.overlay(root, &o)
	}
	c := checker{lint: true, warn: true, now: now, skip: d.isBroken}
	c.overlay(o)
	for _, p := range c.out {
		d.problems = append(d.problems, d.locate(p))
	}
	sortByPosition(d.problems)
	errs, warnings := d.problems.bySeverity()
	return Parsed{Overlay: o, Warnings: capProblems(warnings), Positions: d.pos}, capProblems(errs).Err()
}

// decoder walks one file's YAML tree into an Overlay, collecting problems and
// remembering where each field is, so that validation problems found later on
// the Overlay can be placed.
type decoder struct {
	file     string
	problems Problems
	// pos maps a field path to its place in the file: the value of a
	// fixed key, the item of a list, or the key of a user-named map entry
	// (environment, annotations).
	pos map[string]Position
	// broken holds the fields that had a problem while reading; the zero
	// value standing in for them is not validated again.
	broken map[string]bool
}

// document parses data as exactly one YAML document and returns its root
// node, nil for an empty document. ok is false when the YAML itself is broken
// and nothing further can be read.
func (d *decoder) document(data []byte) (root *yaml.Node, ok bool) {
	if len(data) > MaxFileBytes {
		line, col := positionOf(data, MaxFileBytes)
		d.problems = append(d.problems, Problem{File: d.file, Line: line, Column: col,
			Message: "file is larger than the limit of 1048576 bytes (1 MiB)"})
		return nil, false
	}
	if !utf8.Valid(data) && !hasUTF16BOM(data) {
		line, col := invalidUTF8At(data)
		d.problems = append(d.problems, Problem{File: d.file, Line: line, Column: col, Message: "syntax error: invalid UTF-8"})
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.syntax(data, err)
		return nil, false
	}
	if !d.limits(&doc) {
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.problems = append(d.problems, Problem{File: d.file, Line: next.Line, Column: next.Column,
			Message: "more than one YAML document; an overlay file holds exactly one"})
	case !errors.Is(err, io.EOF):
		d.syntax(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	root = deref(doc.Content[0])
	if isNull(root) {
		return nil, true
	}
	if root.Kind != yaml.MappingNode {
		d.errorAt(doc.Content[0], "", "expected a mapping, got %s", kindOf(root))
		return nil, true
	}
	return root, true
}

// syntax records a YAML syntax error. yaml.v3 reports no column, and for
// parser errors a line that is often the one before the problem (or none), so
// the place is found again: the shortest prefix of data that fails with the
// same message ends at the character that makes the YAML invalid.
func (d *decoder) syntax(data []byte, err error) {
	msg := yamlMessage(err)
	line, col := syntaxPosition(data, msg)
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Column: col, Message: "syntax error: " + msg})
}

// yamlMessage is a yaml.v3 error without its "yaml: line N: " prefix.
func yamlMessage(err error) string {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

// syntaxPosition returns the 1-based line and column of the character at
// which data first fails to parse with msg: a binary search for the shortest
// failing prefix (a YAML parser stops at its first error, so longer prefixes
// fail the same way).
func syntaxPosition(data []byte, msg string) (line, col int) {
	fails := func(n int) bool { return firstError(data[:n]) == msg }
	n := sort.Search(len(data), func(n int) bool { return fails(n + 1) }) + 1
	if n > len(data) {
		n = len(data)
	}
	return positionOf(data, n-1)
}

// firstError is the message of the first error reading every document of
// data, or "" when there is none.
func firstError(data []byte) string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return yamlMessage(err)
		}
	}
}

// positionOf returns the 1-based line and column (in characters) of byte
// offset off of data.
func positionOf(data []byte, off int) (line, col int) {
	if off < 0 {
		return 1, 1
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = 1 + utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])
	return line, col
}

// errorAt records a problem at node n.
func (d *decoder) errorAt(n *yaml.Node, field, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		File: d.file, Line: n.Line, Column: n.Column, Field: field,
		Message: fmt.Sprintf(format, args...),
	})
}

// at remembers where field is.
func (d *decoder) at(field string, n *yaml.Node) {
	if _, ok := d.pos[field]; !ok {
		d.pos[field] = Position{n.Line, n.Column}
	}
}

// isBroken reports whether field, or a field holding it, could not be read.
func (d *decoder) isBroken(field string) bool {
	for f := field; f != ""; f = parentField(f) {
		if d.broken[f] {
			return true
		}
	}
	return false
}

// locate places a validation problem at its field, or at the nearest field
// holding it that is in the file (a missing key is placed at its mapping).
func (d *decoder) locate(p Problem) Problem {
	p.File = d.file
	for f := p.Field; ; f = parentField(f) {
		if pos, ok := d.pos[f]; ok {
			p.Line, p.Column = pos.Line, pos.Column
			return p
		}
		if f == "" {
			return p
		}
	}
}

func hasUTF16BOM(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe})
}

// invalidUTF8At returns the 1-based line and column of the first byte of
// data that is not valid UTF-8.
func invalidUTF8At(data []byte) (line, col int) {
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	return positionOf(data, off)
}
