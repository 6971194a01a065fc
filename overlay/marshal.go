package overlay

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Marshal writes o in the file format (apko keys), in canonical form and a
// fixed key order, so that Parse(Marshal(o)) equals Canonical(o) and a user
// can `chainctl image repo build apply -f` the result. Empty sections are
// left out; the empty overlay is "{}".
func Marshal(o Overlay) ([]byte, error) {
	c := Canonical(o)
	root := mapping()

	contents := mapping()
	addList(contents, "packages", c.Packages)
	addList(contents, "runtime_repositories", c.RuntimeRepositories)
	addEntries(contents, "runtime_keyring", c.RuntimeKeyring)
	add(root, "contents", contents)

	add(root, "environment", stringMapNode(c.Environment))
	add(root, "annotations", stringMapNode(c.Annotations))

	accounts := mapping()
	if c.Accounts.RunAs != "" {
		add(accounts, "run-as", str(c.Accounts.RunAs))
	}
	users := sequence()
	for _, u := range c.Accounts.Users {
		m := mapping()
		addString(m, "username", u.UserName)
		add(m, "uid", uintNode(u.UID))
		if u.GID != nil {
			add(m, "gid", uintNode(*u.GID))
		}
		addString(m, "groupname", u.GroupName)
		addString(m, "shell", u.Shell)
		addString(m, "homedir", u.HomeDir)
		users.Content = append(users.Content, m)
	}
	add(accounts, "users", users)
	groups := sequence()
	for _, g := range c.Accounts.Groups {
		m := mapping()
		addString(m, "groupname", g.GroupName)
		add(m, "gid", uintNode(g.GID))
		addList(m, "members", g.Members)
		groups.Content = append(groups.Content, m)
	}
	add(accounts, "groups", groups)
	add(root, "accounts", accounts)

	certs := mapping()
	addEntries(certs, "additional", c.Certificates)
	addList(certs, "providers", c.CertificateProviders)
	add(root, "certificates", certs)

	if len(root.Content) == 0 {
		return []byte("{}\n"), nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encoding overlay: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding overlay: %w", err)
	}
	return buf.Bytes(), nil
}

func mapping() *yaml.Node  { return &yaml.Node{Kind: yaml.MappingNode} }
func sequence() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} }

// str is a string scalar. yaml.v3 quotes it when its plain form would read
// back as something else ("3000", "true", "null"). Some strings it does not
// write back faithfully are double-quoted here, where every character is
// escaped as needed: "<<" (a merge key), and strings with tabs, carriage
// returns, Unicode line separators or other non-printing characters (written
// raw in single-quoted and literal styles, they read back changed or not at
// all). Other multi-line strings are literal blocks.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	switch {
	case s == "<<" || strings.IndexFunc(s, needsEscape) >= 0:
		n.Style = yaml.DoubleQuotedStyle
	case strings.Contains(s, "\n"):
		n.Style = yaml.LiteralStyle
	}
	return n
}

func needsEscape(r rune) bool {
	switch r {
	case '\n', ' ':
		return false
	case '\t', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return !unicode.IsPrint(r)
}

func uintNode(v uint32) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(uint64(v), 10)}
}

// add appends key: value to mapping m, unless value is an empty collection.
func add(m *yaml.Node, key string, value *yaml.Node) {
	if value.Kind != yaml.ScalarNode && len(value.Content) == 0 {
		return
	}
	m.Content = append(m.Content, str(key), value)
}

func addString(m *yaml.Node, key, value string) {
	if value != "" {
		add(m, key, str(value))
	}
}

func addList(m *yaml.Node, key string, list []string) {
	s := sequence()
	for _, v := range list {
		s.Content = append(s.Content, str(v))
	}
	add(m, key, s)
}

func addEntries(m *yaml.Node, key string, list []NamedContent) {
	s := sequence()
	for _, e := range list {
		item := mapping()
		addString(item, "name", e.Name)
		addString(item, "content", e.Content)
		if len(item.Content) == 0 {
			// An entry with neither: keep its place in the list.
			add(item, "name", str(""))
		}
		s.Content = append(s.Content, item)
	}
	add(m, key, s)
}

func stringMapNode(m map[string]string) *yaml.Node {
	n := mapping()
	for _, k := range sortedKeys(m) {
		n.Content = append(n.Content, str(k), str(m[k]))
	}
	return n
}
