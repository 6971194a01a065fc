package overlay

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Limits the server puts on inline content, in bytes of content as written.
const (
	maxCertificatesBytes   = 50 << 10  // certificates.additional, all together
	maxRuntimeKeyringBytes = 512 << 10 // contents.runtime_keyring, all together
)

var (
	// envName is a portable environment variable name.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// safeFileName is apko's rule for certificate and key file names.
	safeFileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
)

// reservedEnvPrefix and reservedAnnotationPrefixes are keys the server keeps
// for Chainguard.
const reservedEnvPrefix = "CHAINGUARD_"

var reservedAnnotationPrefixes = []string{"dev.chainguard", "org.opencontainers"}

// reservedKeyPrefixes may not start a runtime_keyring name (compared without
// case): they would collide with Chainguard's and Wolfi's own signing keys.
var reservedKeyPrefixes = []string{"chainguard", "wolfi"}

// ServerRules returns the problems the Chainguard API itself would reject the
// overlay for (shared/OVERLAY.md, "Rules the server enforces"), without
// positions. The emulator enforces exactly these. Rules that need the org's
// state (entitled packages, entitlements, Custom Assembly enabled) are not
// here.
func ServerRules(o Overlay) Problems {
	c := checker{}
	c.overlay(o)
	return c.out
}

// Validate returns every problem of the overlay, without positions: the
// server's rules and our own lint (duplicate or empty packages, environment
// names that are not variable names, accounts that do not add up, unsafe or
// repeated certificate names). An overlay that passes Validate is safe to
// write. Parse applies the same rules and places each problem in the file.
func Validate(o Overlay) Problems {
	c := checker{lint: true}
	c.overlay(o)
	return c.out
}

// checker collects the problems of one overlay.
type checker struct {
	// lint adds our own rules to the server's.
	lint bool
	// skip, when set, names fields that could not be read from the file;
	// their zero value is not checked.
	skip func(field string) bool
	out  Problems
}

func (c *checker) broken(field string) bool { return c.skip != nil && c.skip(field) }

func (c *checker) add(field, format string, args ...any) {
	if c.broken(field) {
		return
	}
	c.out = append(c.out, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// overlay checks every section in file order.
func (c *checker) overlay(o Overlay) {
	if c.lint {
		c.packages(o.Packages)
	}
	c.repositories(o.RuntimeRepositories)
	c.keyring(o.RuntimeKeyring)
	c.environment(o.Environment)
	c.annotations(o.Annotations)
	if c.lint {
		c.accounts(o.Accounts)
	}
	c.certificates(o.Certificates)
}

// packages is lint only: the server checks packages against the org's
// entitlements at build time.
func (c *checker) packages(pkgs []string) {
	const field = "contents.packages"
	seen := map[string]bool{}
	for i, p := range pkgs {
		f := indexField(field, i)
		switch {
		case c.broken(f):
		case strings.TrimSpace(p) == "":
			c.add(f, "empty package name")
		case strings.IndexFunc(p, unicode.IsSpace) >= 0:
			c.add(f, "package name %q contains whitespace", p)
		case seen[p]:
			c.add(f, "duplicate package %q", p)
		default:
			seen[p] = true
		}
	}
}

func (c *checker) repositories(repos []string) {
	const field = "contents.runtime_repositories"
	seen := map[string]bool{}
	for i, r := range repos {
		f := indexField(field, i)
		if c.broken(f) {
			continue
		}
		if seen[r] {
			c.add(f, "duplicate repository")
			continue
		}
		seen[r] = true
		if msg := checkRepository(r); msg != "" {
			c.add(f, "%s", msg)
		}
	}
}

func (c *checker) keyring(keys []NamedContent) {
	const field = "contents.runtime_keyring"
	seen := map[string]bool{}
	total := 0
	for i, k := range keys {
		f := indexField(field, i)
		total += len(k.Content)
		if name := f + ".name"; !c.broken(name) {
			switch msg := checkKeyName(k.Name); {
			case msg != "":
				c.add(name, "%s", msg)
			case seen[k.Name]:
				c.add(name, "duplicate name %q", k.Name)
			case c.lint && !safeFileName.MatchString(k.Name):
				c.add(name, "not a safe file name (letters, digits, \"_\", \"-\" and \".\")")
			}
			seen[k.Name] = true
		}
		if msg := checkPublicKey(k.Content); msg != "" {
			c.add(f+".content", "%s", msg)
		}
	}
	if total > maxRuntimeKeyringBytes {
		c.add(field, "total content size %d bytes exceeds the limit of %d bytes (512 KB)", total, maxRuntimeKeyringBytes)
	}
}

func (c *checker) environment(env map[string]string) {
	for _, k := range sortedKeys(env) {
		f := keyField("environment", k)
		switch {
		case strings.HasPrefix(k, reservedEnvPrefix):
			c.add(f, "key prefix %q is reserved", reservedEnvPrefix)
		case c.lint && !envName.MatchString(k):
			c.add(f, "not a valid variable name (want [A-Za-z_][A-Za-z0-9_]*)")
		}
	}
}

func (c *checker) annotations(ann map[string]string) {
	for _, k := range sortedKeys(ann) {
		if k == "" && c.lint {
			c.add(keyField("annotations", k), "empty key")
		}
		for _, p := range reservedAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				c.add(keyField("annotations", k), "key prefix %q is reserved", p)
				break
			}
		}
	}
}

// accounts is lint only: apko's own checks (user names, uid 0, group names)
// and consistency of uids, gids and names, which the server leaves to the
// build.
func (c *checker) accounts(a Accounts) {
	names, uids := map[string]bool{}, map[uint32]bool{}
	// Whether every user name and uid could be read, so that run-as can
	// be checked against them.
	namesKnown, uidsKnown := !c.broken("accounts.users"), !c.broken("accounts.users")
	for i, u := range a.Users {
		f := indexField("accounts.users", i)
		namesKnown = namesKnown && !c.broken(f+".username")
		uidsKnown = uidsKnown && !c.broken(f+".uid")
		switch {
		case u.UserName == "":
			c.add(f+".username", "required")
		case names[u.UserName]:
			c.add(f+".username", "duplicate user name %q", u.UserName)
		}
		names[u.UserName] = true
		if !c.broken(f + ".uid") {
			switch {
			case u.UID == 0:
				c.add(f+".uid", "required and not 0 (to run as root, set run-as: \"0\")")
			case uids[u.UID]:
				c.add(f+".uid", "duplicate uid %d", u.UID)
			}
			uids[u.UID] = true
		}
		c.absolutePath(f+".homedir", u.HomeDir)
		c.absolutePath(f+".shell", u.Shell)
	}
	groups, gids := map[string]bool{}, map[uint32]bool{}
	for i, g := range a.Groups {
		f := indexField("accounts.groups", i)
		switch {
		case g.GroupName == "":
			c.add(f+".groupname", "required")
		case groups[g.GroupName]:
			c.add(f+".groupname", "duplicate group name %q", g.GroupName)
		}
		groups[g.GroupName] = true
		if !c.broken(f + ".gid") {
			if gids[g.GID] {
				c.add(f+".gid", "duplicate gid %d", g.GID)
			}
			gids[g.GID] = true
		}
		members := map[string]bool{}
		for j, m := range g.Members {
			mf := indexField(f+".members", j)
			switch {
			case c.broken(mf):
			case m == "":
				c.add(mf, "empty user name")
			case members[m]:
				c.add(mf, "duplicate member %q", m)
			}
			members[m] = true
		}
	}
	if a.RunAs != "" {
		c.runAs(a, namesKnown, uidsKnown, !c.broken("accounts.groups"))
	}
}

// runAs checks that run-as names a user this overlay defines, by name or uid,
// optionally followed by ":group" naming a group it defines, by name or gid.
// Root ("root" or 0) is always defined. A part is not checked when the users
// or groups it would be looked up in could not all be read from the file.
func (c *checker) runAs(a Accounts, namesKnown, uidsKnown, groupsKnown bool) {
	user, group, hasGroup := strings.Cut(a.RunAs, ":")
	_, err := strconv.ParseUint(user, 10, 32)
	numeric := err == nil
	if ((numeric && uidsKnown) || (!numeric && namesKnown)) && !definedUser(a.Users, user) {
		if numeric {
			c.add("accounts.run-as", "uid %s is not defined in accounts.users", user)
		} else {
			c.add("accounts.run-as", "user %q is not defined in accounts.users", user)
		}
	}
	if hasGroup && groupsKnown && !definedGroup(a.Groups, group) {
		c.add("accounts.run-as", "group %q is not defined in accounts.groups", group)
	}
}

func definedUser(users []User, s string) bool {
	if s == "root" || s == "0" {
		return true
	}
	uid, err := strconv.ParseUint(s, 10, 32)
	for _, u := range users {
		if u.UserName == s || (err == nil && uint64(u.UID) == uid) {
			return true
		}
	}
	return false
}

func definedGroup(groups []Group, s string) bool {
	if s == "root" || s == "0" {
		return true
	}
	gid, err := strconv.ParseUint(s, 10, 32)
	for _, g := range groups {
		if g.GroupName == s || (err == nil && uint64(g.GID) == gid) {
			return true
		}
	}
	return false
}

func (c *checker) absolutePath(field, p string) {
	if p != "" && !strings.HasPrefix(p, "/") {
		c.add(field, "must be an absolute path")
	}
}

func (c *checker) certificates(certs []NamedContent) {
	const field = "certificates.additional"
	seen := map[string]bool{}
	total := 0
	for i, e := range certs {
		f := indexField(field, i)
		total += len(e.Content)
		if name := f + ".name"; !c.broken(name) {
			switch {
			case e.Name == "":
				c.add(name, "required")
			case !c.lint:
			case !safeFileName.MatchString(e.Name):
				c.add(name, "not a safe file name (letters, digits, \"_\", \"-\" and \".\", not starting with \".\")")
			case seen[e.Name]:
				c.add(name, "duplicate name %q", e.Name)
			}
			seen[e.Name] = true
		}
		if msg := checkCertificate(e.Content); msg != "" {
			c.add(f+".content", "%s", msg)
		}
	}
	if total > maxCertificatesBytes {
		c.add(field, "total content size %d bytes exceeds the limit of %d bytes (50 KB)", total, maxCertificatesBytes)
	}
}

// checkKeyName applies the server's rules for runtime_keyring names.
func checkKeyName(name string) string {
	switch {
	case name == "":
		return "required"
	case strings.HasPrefix(name, "."):
		return `must not start with "."`
	case strings.ContainsAny(name, `/\`):
		return "must not contain a path separator"
	}
	lower := strings.ToLower(name)
	for _, p := range reservedKeyPrefixes {
		if strings.HasPrefix(lower, p) {
			return fmt.Sprintf("prefix %q is reserved", p)
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
