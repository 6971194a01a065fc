package gitsource

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// DefaultTimeout bounds each network operation when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Config says which files of which repository a Source serves.
type Config struct {
	// URL of the repository: https://, http://, ssh:// or scp-like
	// user@host:path, file://, or a local path. It must not embed a password;
	// use Auth.PasswordFile.
	URL string
	// Ref is a branch, a tag, a full ref name (refs/...), or a full 40-hex
	// commit hash. Empty means the branch the remote's HEAD points to. A short
	// name is looked up as refs/heads/NAME first, then refs/tags/NAME.
	Ref string
	// Path is the folder in the repository whose files are returned, for
	// example "ca-images-iac". Empty means the whole tree.
	Path string
	// CacheDir is where the clone lives (in CacheDir/repo.git); it survives
	// restarts. One Source owns it.
	CacheDir string
	// Timeout bounds each network operation (ls-remote, fetch, clone);
	// DefaultTimeout when zero.
	Timeout time.Duration
	// Auth holds the credentials for the remote.
	Auth Auth
	// CABundleFile is an optional PEM file of CA certificates trusted for
	// https URLs in addition to the system's.
	CABundleFile string
	// Keyring is a set of armored OpenPGP public keys. When set, only commits
	// signed by one of them are accepted.
	Keyring string
	// History makes every Snapshot carry EverPaths: the names of the files
	// that any commit reachable from its revision held directly under Path.
	// The first Fetch walks the whole history (at 5,000 files and 200
	// commits, see BenchmarkEverPaths), later ones only the new commits.
	History bool
	// Logger receives the Source's logs; nil means no logs.
	Logger *zap.Logger
	// Names says how messages name each field; a command line maps them to
	// its flags ({FieldPasswordFile: "--git-password-file"}), so that an
	// error tells the user what to change. A field not in the map is named
	// by its Go name ("Auth.PasswordFile").
	Names map[Field]string
}

// Field names a Config field in messages; see Config.Names.
type Field string

// The Config fields that messages name.
const (
	FieldURL                      Field = "URL"
	FieldRef                      Field = "Ref"
	FieldPath                     Field = "Path"
	FieldCacheDir                 Field = "CacheDir"
	FieldTimeout                  Field = "Timeout"
	FieldUsername                 Field = "Auth.Username"
	FieldPasswordFile             Field = "Auth.PasswordFile"
	FieldSSHKeyFile               Field = "Auth.SSHKeyFile"
	FieldSSHKeyPassphraseFile     Field = "Auth.SSHKeyPassphraseFile"
	FieldKnownHostsFile           Field = "Auth.KnownHostsFile"
	FieldInsecureSkipHostKeyCheck Field = "Auth.InsecureSkipHostKeyCheck"
	FieldCABundleFile             Field = "CABundleFile"
	FieldKeyring                  Field = "Keyring"
)

// names turns Fields into the words messages use for them.
type names map[Field]string

func (n names) of(f Field) string {
	if name, ok := n[f]; ok && name != "" {
		return name
	}
	return string(f)
}

// Auth holds credentials. Files are read again on every Fetch, so they can be
// rotated without a restart.
type Auth struct {
	// Username for HTTP basic auth; when empty, the user in the URL, else
	// "git". For ssh the user in the URL wins, then Username, then "git".
	Username string
	// PasswordFile holds the HTTP basic-auth password or token; surrounding
	// white space is trimmed. http(s) only.
	PasswordFile string
	// SSHKeyFile is the private key for ssh URLs (required for them).
	SSHKeyFile string
	// SSHKeyPassphraseFile holds the key's passphrase, if it has one; a
	// trailing newline is trimmed.
	SSHKeyPassphraseFile string
	// KnownHostsFile is the known_hosts file that ssh host keys are checked
	// against; required for ssh URLs unless InsecureSkipHostKeyCheck is set.
	KnownHostsFile string
	// InsecureSkipHostKeyCheck accepts any ssh host key. Every Fetch logs a
	// warning while it is set.
	InsecureSkipHostKeyCheck bool
}

// refKind says how Config.Ref is resolved.
type refKind int

const (
	refHead   refKind = iota // the remote's HEAD
	refName                  // a branch, tag or full ref name
	refCommit                // a full commit hash
)

// target is a parsed Config.Ref.
type target struct {
	kind       refKind
	given      string                   // as configured, for messages
	candidates []plumbing.ReferenceName // refName: names to try, in order
	commit     plumbing.Hash            // refCommit
}

// settings is a checked Config with everything derived from it.
type settings struct {
	url          string // as given to go-git; local paths made absolute
	display      string // url with any password redacted, for messages
	protocol     string // http, https, ssh or file
	sshAddr      string // host:port, for known_hosts lookups
	urlUser      string // the user named in the URL, if any
	target       target
	path         string // cleaned, no leading or trailing slash; "" = whole tree
	cacheDir     string
	timeout      time.Duration
	auth         Auth
	caBundle     []byte
	keyring      string
	logger       *zap.Logger
	insecureHost bool
	maxPacks     int // see defaultMaxPacks
	maxLoose     int // see defaultMaxLoose
	history      bool
	names        names
}

// configError is returned by New. It wraps any %w argument, with
// credentials (URL passwords, tokens) redacted from the message.
func configError(format string, args ...any) error {
	return redact.Error(fmt.Errorf("gitsource config: "+format, args...))
}

func newSettings(cfg Config) (settings, error) {
	s := settings{
		cacheDir: cfg.CacheDir,
		timeout:  cfg.Timeout,
		auth:     cfg.Auth,
		keyring:  cfg.Keyring,
		logger:   cfg.Logger,
		maxPacks: defaultMaxPacks,
		maxLoose: defaultMaxLoose,
		names:    names(cfg.Names),
		history:  cfg.History,
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	if err := s.setURL(cfg.URL); err != nil {
		return settings{}, err
	}
	t, err := s.parseRef(cfg.Ref)
	if err != nil {
		return settings{}, err
	}
	s.target = t
	if s.path, err = s.cleanPath(cfg.Path); err != nil {
		return settings{}, err
	}
	if s.cacheDir == "" {
		return settings{}, configError("%s is empty", s.names.of(FieldCacheDir))
	}
	if s.cacheDir, err = filepath.Abs(s.cacheDir); err != nil {
		return settings{}, configError("%s %q: %w", s.names.of(FieldCacheDir), cfg.CacheDir, err)
	}
	switch {
	case s.timeout < 0:
		return settings{}, configError("%s %s is negative", s.names.of(FieldTimeout), s.timeout)
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	}
	if err := s.checkAuth(); err != nil {
		return settings{}, err
	}
	if cfg.CABundleFile != "" && s.protocol == "https" {
		if s.caBundle, err = s.readCABundle(cfg.CABundleFile); err != nil {
			return settings{}, err
		}
	}
	if strings.TrimSpace(s.keyring) != "" {
		if s.keyring, err = normalizeKeyring(s.keyring); err != nil {
			return settings{}, configError("%s: %w", s.names.of(FieldKeyring), err)
		}
	} else {
		s.keyring = ""
	}
	return s, nil
}

func (s *settings) setURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return configError("%s is empty", s.names.of(FieldURL))
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return configError("%s %s: %w", s.names.of(FieldURL), raw, err)
	}
	s.display = redact.String(raw)
	if ep.Password != "" {
		return configError("%s %s embeds a password; put it in %s instead", s.names.of(FieldURL), raw, s.names.of(FieldPasswordFile))
	}
	s.protocol = ep.Protocol
	s.url = raw
	switch ep.Protocol {
	case "http", "https":
		s.urlUser = ep.User
	case "ssh":
		port := ep.Port
		if port <= 0 {
			port = 22
		}
		s.sshAddr = net.JoinHostPort(strings.Trim(ep.Host, "[]"), strconv.Itoa(port))
		s.urlUser = ep.User
	case "file":
		if !strings.HasPrefix(raw, "file://") {
			abs, err := filepath.Abs(raw)
			if err != nil {
				return configError("%s %s: %w", s.names.of(FieldURL), raw, err)
			}
			s.url, s.display = abs, abs
		}
	default:
		return configError("%s %s: unsupported scheme %q (use https, http, ssh, file or a local path)", s.names.of(FieldURL), raw, ep.Protocol)
	}
	return nil
}

func (s *settings) parseRef(ref string) (target, error) {
	t := target{given: ref}
	switch {
	case ref == "" || ref == "HEAD":
		t.kind = refHead
	case isFullHash(ref):
		t.kind = refCommit
		t.commit = plumbing.NewHash(strings.ToLower(ref))
	case strings.HasPrefix(ref, "refs/"):
		if plumbing.ReferenceName(ref).Validate() != nil {
			return target{}, configError("%s %q is not a valid ref name", s.names.of(FieldRef), ref)
		}
		t.kind = refName
		t.candidates = []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	default:
		if plumbing.NewBranchReferenceName(ref).Validate() != nil {
			return target{}, configError("%s %q is not a valid branch, tag or commit hash", s.names.of(FieldRef), ref)
		}
		t.kind = refName
		t.candidates = []plumbing.ReferenceName{
			plumbing.NewBranchReferenceName(ref),
			plumbing.NewTagReferenceName(ref),
		}
	}
	return t, nil
}

func isFullHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// cleanPath turns Config.Path into a slash path without leading or trailing
// slashes; "", "." and "/" mean the whole tree.
func (s *settings) cleanPath(p string) (string, error) {
	if strings.Contains(p, `\`) {
		return "", configError("%s %q must use forward slashes", s.names.of(FieldPath), p)
	}
	c := strings.Trim(path.Clean("/"+p), "/")
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", configError("%s %q leaves the repository", s.names.of(FieldPath), p)
		}
	}
	return c, nil
}

func (s *settings) checkAuth() error {
	a, n := s.auth, s.names
	switch s.protocol {
	case "http", "https":
		if a.SSHKeyFile != "" || a.SSHKeyPassphraseFile != "" {
			return configError("%s is only used with ssh URLs, not %s", n.of(FieldSSHKeyFile), s.display)
		}
		if a.Username != "" && a.PasswordFile == "" {
			return configError("%s is set without %s", n.of(FieldUsername), n.of(FieldPasswordFile))
		}
		if a.PasswordFile != "" {
			if _, err := readPassword(a.PasswordFile, n); err != nil {
				return configError("%w", err)
			}
		}
	case "ssh":
		s.insecureHost = a.InsecureSkipHostKeyCheck
		if a.PasswordFile != "" {
			return configError("%s is only used with http(s) URLs, not %s", n.of(FieldPasswordFile), s.display)
		}
		if a.SSHKeyFile == "" {
			return configError("%s is required for ssh URL %s", n.of(FieldSSHKeyFile), s.display)
		}
		switch {
		case a.KnownHostsFile == "" && !a.InsecureSkipHostKeyCheck:
			return configError("%s is required for ssh URL %s unless %s is set", n.of(FieldKnownHostsFile), s.display, n.of(FieldInsecureSkipHostKeyCheck))
		case a.KnownHostsFile != "" && a.InsecureSkipHostKeyCheck:
			return configError("%s and %s are mutually exclusive", n.of(FieldKnownHostsFile), n.of(FieldInsecureSkipHostKeyCheck))
		}
	}
	return nil
}

func (s *settings) readCABundle(file string) ([]byte, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, configError("reading %s: %w", s.names.of(FieldCABundleFile), err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, configError("%s %s holds no PEM certificate", s.names.of(FieldCABundleFile), file)
	}
	return pem, nil
}
