package overlay

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
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

// reservedEnvPrefixes and reservedAnnotationPrefixes start keys the server
// keeps for Chainguard: CHAINGUARD_ (SDK proto comments, chainctl docs) and
// GUARDED_ (Guarded Entrypoint's settings, rejected by the newer service) for
// environment keys; "dev.chainguard." and "org.opencontainers." with their
// dot for annotations, so "org.opencontainersx.a" is a key like any other.
var (
	reservedEnvPrefixes        = []string{"CHAINGUARD_", "GUARDED_"}
	reservedAnnotationPrefixes = []string{"dev.chainguard.", "org.opencontainers."}
)

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
	// warn adds warnings; certificates are checked against now.
	warn bool
	now  time.Time
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

// warning adds a problem of severity warning, when warnings are wanted.
func (c *checker) warning(field, format string, args ...any) {
	if !c.warn || c.broken(field) {
		return
	}
	c.out = append(c.out, Problem{Severity: SeverityWarning, Field: field, Message: fmt.Sprintf(format, args...)})
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
	if n := EncodedSize(o); n > MaxEncodedBytes {
		c.add("", "the overlay encodes to %d bytes, over the limit of %d bytes (1 MiB; the API refuses a request over 4 MiB)", n, MaxEncodedBytes)
	}
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
			c.add(f, "package name %s contains whitespace", quote(p))
		case seen[p]:
			c.add(f, "duplicate package %s", quote(p))
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
	c.namedContents("contents.runtime_keyring", keys, maxRuntimeKeyringBytes, "512 KB", func(name string, dup bool) string {
		switch msg := checkKeyName(name); {
		case msg != "":
			return msg
		case dup:
			return "duplicate name " + quote(name)
		case c.lint && !safeFileName.MatchString(name):
			return "not a safe file name (letters, digits, \"_\", \"-\" and \".\")"
		}
		return ""
	}, func(f, content string) {
		if msg := checkPublicKey(content); msg != "" {
			c.add(f, "%s", msg)
		}
	})
}

// namedContents checks a list of named files (keys, certificates): each
// name with nameProblem (told whether an earlier entry has the same name),
// unless the name is broken already; each content with content (given the
// content's field); and the total size of the contents against limit
// (limitText says it for people).
func (c *checker) namedContents(field string, items []NamedContent, limit int, limitText string,
	nameProblem func(name string, dup bool) string, content func(f, content string)) {
	seen := map[string]bool{}
	total := 0
	for i, it := range items {
		f := indexField(field, i)
		total += len(it.Content)
		if name := f + ".name"; !c.broken(name) {
			if msg := nameProblem(it.Name, seen[it.Name]); msg != "" {
				c.add(name, "%s", msg)
			}
			seen[it.Name] = true
		}
		content(f+".content", it.Content)
	}
	if total > limit {
		c.add(field, "total content size %d bytes exceeds the limit of %d bytes (%s)", total, limit, limitText)
	}
}

func (c *checker) environment(env map[string]string) {
	for _, k := range sortedKeys(env) {
		f := keyField("environment", k)
		switch p := reservedPrefix(k, reservedEnvPrefixes); {
		case p != "":
			c.add(f, "key prefix %q is reserved", p)
		case c.lint && !envName.MatchString(k):
			c.add(f, "not a valid variable name (want [A-Za-z_][A-Za-z0-9_]*)")
		}
	}
}

// reservedPrefix returns the prefix of prefixes that key starts with, or "".
func reservedPrefix(key string, prefixes []string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}

func (c *checker) annotations(ann map[string]string) {
	for _, k := range sortedKeys(ann) {
		if k == "" && c.lint {
			c.add(keyField("annotations", k), "empty key")
		}
		if p := reservedPrefix(k, reservedAnnotationPrefixes); p != "" {
			c.add(keyField("annotations", k), "key prefix %q is reserved", p)
		}
	}
}

// accounts is lint only: apko's own checks (user names, uid 0, group names)
// and consistency of uids, gids and names, which the server leaves to the
// build. run-as is not an error whatever it names: apko resolves a name
// against the image's passwd and otherwise keeps it as given
// (pkg/build/accounts.go), and a uid needs no passwd entry at all.
func (c *checker) accounts(a Accounts) {
	names, uids := map[string]bool{}, map[uint32]bool{}
	for i, u := range a.Users {
		f := indexField("accounts.users", i)
		c.uniqueName(names, f+".username", u.UserName, "required", "user name")
		if u.UID == 0 {
			c.add(f+".uid", "required and not 0 (to run as root, set run-as: \"0\")")
		} else {
			c.uniqueID(uids, f+".uid", "uid", u.UID)
		}
		c.absolutePath(f+".homedir", u.HomeDir)
		c.absolutePath(f+".shell", u.Shell)
	}
	groups, gids := map[string]bool{}, map[uint32]bool{}
	for i, g := range a.Groups {
		f := indexField("accounts.groups", i)
		c.uniqueName(groups, f+".groupname", g.GroupName, "required", "group name")
		c.uniqueID(gids, f+".gid", "gid", g.GID)
		members := map[string]bool{}
		for j, m := range g.Members {
			c.uniqueName(members, indexField(f+".members", j), m, "empty user name", "member")
		}
	}
	if a.RunAs != "" {
		c.runAs(a)
	}
}

// uniqueName reports a name at field that is empty (with the message
// empty) or that an earlier entry had (a duplicate what), and remembers it.
func (c *checker) uniqueName(seen map[string]bool, field, name, empty, what string) {
	switch {
	case name == "":
		c.add(field, "%s", empty)
	case seen[name]:
		c.add(field, "duplicate %s %s", what, quote(name))
	}
	seen[name] = true
}

// uniqueID reports an id at field that an earlier entry had, and remembers
// it. An id whose field decoding broke is neither checked nor remembered.
func (c *checker) uniqueID(seen map[uint32]bool, field, what string, id uint32) {
	if c.broken(field) {
		return
	}
	if seen[id] {
		c.add(field, "duplicate %s %d", what, id)
	}
	seen[id] = true
}

// runAs warns when run-as names a user (or ":group") by a name that neither
// the file nor every Chainguard base image defines: apko keeps such a name
// as given, and the container then starts only if the image's own passwd
// (from a package) has it. Numbers are never warned about: a uid or gid
// needs no entry. A part is not checked when the users or groups it would
// be found in could not all be read from the file.
func (c *checker) runAs(a Accounts) {
	user, group, hasGroup := strings.Cut(a.RunAs, ":")
	if !isNumber(user) && !c.broken("accounts.users") && !slices.Contains(baseUsers, user) &&
		!slices.ContainsFunc(a.Users, func(u User) bool { return u.UserName == user }) {
		c.warning("accounts.run-as", "user %s is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it", quote(user))
	}
	if hasGroup && !isNumber(group) && !c.broken("accounts.groups") && !slices.Contains(baseGroups, group) &&
		!slices.ContainsFunc(a.Groups, func(g Group) bool { return g.GroupName == group }) {
		c.warning("accounts.run-as", "group %s is defined neither in accounts.groups nor by Chainguard's base images; the container starts only if the image defines it", quote(group))
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func (c *checker) absolutePath(field, p string) {
	if p != "" && !strings.HasPrefix(p, "/") {
		c.add(field, "must be an absolute path")
	}
}

func (c *checker) certificates(certs []NamedContent) {
	c.namedContents("certificates.additional", certs, maxCertificatesBytes, "50 KB", func(name string, dup bool) string {
		switch {
		case name == "":
			return "required"
		case !c.lint:
		case !safeFileName.MatchString(name):
			return "not a safe file name (letters, digits, \"_\", \"-\" and \".\", not starting with \".\")"
		case dup:
			return "duplicate name " + quote(name)
		}
		return ""
	}, func(f, content string) {
		cert, msg := checkCertificate(content)
		if msg != "" {
			c.add(f, "%s", msg)
			return
		}
		expiry := cert.NotAfter.UTC().Format(time.DateOnly)
		if c.now.After(cert.NotAfter) {
			c.warning(f, "certificate expired on %s", expiry)
		}
		if !cert.BasicConstraintsValid || !cert.IsCA {
			c.warning(f, "not a CA certificate (no basic constraints CA:TRUE), it expires on %s", expiry)
		}
	})
}

// baseUsers and baseGroups are the accounts every Chainguard base image
// defines: wolfi-baselayout's /etc/passwd and /etc/group, and nonroot
// (65532), which apko adds to every image Chainguard builds.
var (
	baseUsers = []string{
		"root", "bin", "daemon", "adm", "lp", "sync", "shutdown", "halt", "mail", "news", "uucp",
		"operator", "man", "postmaster", "cron", "ftp", "sshd", "xfs", "nobody", "nonroot",
	}
	baseGroups = []string{
		"root", "bin", "daemon", "sys", "adm", "tty", "disk", "lp", "mem", "kmem", "wheel", "floppy",
		"mail", "news", "uucp", "man", "cron", "console", "audio", "cdrom", "dialout", "ftp", "sshd",
		"input", "at", "tape", "video", "netdev", "readproc", "xfs", "kvm", "games", "shadow", "cdrw",
		"usb", "ntp", "nofiles", "smmsp", "locate", "utmp", "nogroup", "nobody", "nonroot",
	}
)

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
	return slices.Sorted(maps.Keys(m))
}
