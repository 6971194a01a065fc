// Package settings reads the folder settings file, `<path>/.ca-reconciler.yaml`:
// per-repo settings that sit beside the overlay files, so that the overlay
// files themselves stay exactly the format `chainctl image repo build apply`
// reads.
//
//	repos:
//	  custom-node:
//	    source: node        # create this repo from the source image when it does not exist
//	  nginx:
//	    suspend: true       # never write (or prune) this repo; still read it and report drift
//
// The file is optional; an absent file is the zero Settings. It is parsed
// strictly, like the overlays: unknown keys, duplicate keys, wrong types,
// anchors and aliases, YAML tags and a second document are errors, each
// placed at file:line:col with its field. The package does no I/O.
package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// FileName is the settings file's name inside the managed folder.
const FileName = ".ca-reconciler.yaml"

// MaxSize is the largest settings file read (256 KiB): a few thousand repos'
// settings fit many times over.
const MaxSize = 256 << 10

// Repo is the settings of one repo.
type Repo struct {
	// Source is the image to create the repo from when it does not exist:
	// a repo of the organization (by name or id) or an image of the
	// catalog. Empty: the repo is never created.
	Source string
	// Suspend, when true, stops every write (and prune) of the repo; it is
	// still read and its drift reported.
	Suspend bool
	// Line and Column place the repo's entry; SourceLine and SourceColumn
	// place its source setting, for messages about the source.
	Line, Column             int
	SourceLine, SourceColumn int
}

// Settings is the whole settings file.
type Settings struct {
	// File is the file's path as given to Parse, for messages.
	File string
	// Repos maps a repo name to its settings.
	Repos map[string]Repo
}

// Repo returns the settings of one repo; the zero Repo when it has none.
func (s Settings) Repo(name string) Repo { return s.Repos[name] }

// Names returns the repos with settings, sorted.
func (s Settings) Names() []string {
	names := slices.AppendSeq(make([]string, 0, len(s.Repos)), maps.Keys(s.Repos))
	slices.Sort(names)
	return names
}

// SourceProblem is a problem about repo's source setting, placed at the
// setting's line, e.g. a source the organization cannot use.
func (s Settings) SourceProblem(repo, format string, args ...any) overlay.Problem {
	r := s.Repos[repo]
	return overlay.Problem{File: s.File, Line: r.SourceLine, Column: r.SourceColumn,
		Field: "repos." + repo + ".source", Message: fmt.Sprintf(format, args...)}
}

// repoName is what a repo name may look like: the file-name rule of the
// folder (NAME.yaml manages NAME) plus the registry's own characters.
var repoName = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*$`)

// Parse reads a settings file. file names it in problems. The error, when not
// nil, is overlay.Problems holding every problem found, sorted by position.
func Parse(file string, data []byte) (Settings, error) {
	s := Settings{File: file, Repos: map[string]Repo{}}
	p := &parser{file: file}
	if len(data) > MaxSize {
		p.add(nil, "", "file is %d bytes; the settings file may hold at most %d", len(data), MaxSize)
		return s, p.problems.Err()
	}
	root := p.document(data)
	if root != nil {
		p.top(root, &s)
	}
	sort.SliceStable(p.problems, func(i, j int) bool {
		if p.problems[i].Line != p.problems[j].Line {
			return p.problems[i].Line < p.problems[j].Line
		}
		return p.problems[i].Column < p.problems[j].Column
	})
	return s, p.problems.Err()
}

type parser struct {
	file     string
	problems overlay.Problems
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	pr := overlay.Problem{File: p.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
	} else {
		pr.Line = 1
	}
	p.problems = append(p.problems, pr)
}

// document returns the single document's root mapping, or nil when the file
// is empty or broken.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			p.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.add(&next, "", "more than one YAML document; the settings file holds exactly one")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if !p.plain(root, "") {
		return nil
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add(root, "", "expected a mapping with the key repos")
		return nil
	}
	return root
}

// yamlErrLine splits yaml.v3's "yaml: line N: message" errors.
var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	p.problems = append(p.problems, overlay.Problem{File: p.file, Line: line, Message: "syntax error: " + msg})
}

// plain reports whether n is free of anchors, aliases and explicit tags,
// which the settings file has no use for; each is a problem.
func (p *parser) plain(n *yaml.Node, field string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		p.add(n, field, "aliases are not allowed in the settings file")
		return false
	case n.Anchor != "":
		p.add(n, field, "anchors are not allowed in the settings file")
		return false
	case n.Style&yaml.TaggedStyle != 0:
		p.add(n, field, "YAML tag %s is not allowed in the settings file", n.Tag)
		return false
	}
	return true
}

// each calls f for every key/value of mapping n, refusing duplicates and
// keys that are not plain strings.
func (p *parser) each(n *yaml.Node, field string, f func(key string, k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.plain(k, field) {
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			p.add(k, field, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			p.add(k, join(field, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		if !p.plain(v, join(field, k.Value)) {
			continue
		}
		f(k.Value, k, v)
	}
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (p *parser) top(root *yaml.Node, s *Settings) {
	p.each(root, "", func(key string, k, v *yaml.Node) {
		if key != "repos" {
			p.add(k, key, "unknown key; the settings file takes only repos")
			return
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return
		}
		if v.Kind != yaml.MappingNode {
			p.add(v, "repos", "expected a mapping of repo name to settings, got %s", kind(v))
			return
		}
		p.each(v, "repos", func(name string, k, v *yaml.Node) {
			field := "repos." + name
			if !repoName.MatchString(name) {
				p.add(k, field, "%q is not a repo name (lower-case letters, digits, '.', '_', '-' and '/')", name)
				return
			}
			r, ok := p.repo(v, field)
			if !ok {
				return
			}
			r.Line, r.Column = k.Line, k.Column
			s.Repos[name] = r
		})
	})
}

func (p *parser) repo(n *yaml.Node, field string) (Repo, bool) {
	var r Repo
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return r, true
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, field, "expected a mapping with source and/or suspend, got %s", kind(n))
		return r, false
	}
	ok := true
	p.each(n, field, func(key string, k, v *yaml.Node) {
		f := field + "." + key
		switch key {
		case "source":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || strings.TrimSpace(v.Value) == "" {
				p.add(v, f, "expected the name or id of a source image, got %s", kind(v))
				ok = false
				return
			}
			if strings.TrimSpace(v.Value) != v.Value || strings.ContainsAny(v.Value, " \t\r\n") {
				p.add(v, f, "a source must not contain white space")
				ok = false
				return
			}
			r.Source, r.SourceLine, r.SourceColumn = v.Value, v.Line, v.Column
		case "suspend":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				p.add(v, f, "expected true or false, got %s", kind(v))
				ok = false
				return
			}
			r.Suspend = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		default:
			msg := "unknown key; a repo takes source and suspend"
			if strings.EqualFold(key, "suspended") || strings.EqualFold(key, "paused") || strings.EqualFold(key, "pause") {
				msg = "unknown key; did you mean suspend?"
			} else if strings.EqualFold(key, "from") || strings.EqualFold(key, "save-as") || strings.EqualFold(key, "sources") {
				msg = "unknown key; did you mean source?"
			}
			p.add(k, f, "%s", msg)
			ok = false
		}
	})
	return r, ok
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return fmt.Sprintf("the string %q", short(n.Value))
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
