package gitsource

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// defaultUser is the user name when none is configured: what GitHub, GitLab
// and most hosts expect over ssh, and accepted with a token over https.
const defaultUser = "git"

// signerCache keeps the last parsed SSH key. Decrypting a key is slow on
// purpose (bcrypt_pbkdf), so it is only done again when the key file or
// passphrase changed.
type signerCache struct {
	mu     sync.Mutex
	sum    [sha256.Size]byte
	signer ssh.Signer
}

// signer parses pem with passphrase, or returns the cached result for the
// same input.
func (c *signerCache) get(file string, pem []byte, passphrase string, n names) (ssh.Signer, error) {
	h := sha256.New()
	h.Write(pem)
	h.Write([]byte{0})
	h.Write([]byte(passphrase))
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.signer != nil && c.sum == sum {
		return c.signer, nil
	}
	var (
		signer ssh.Signer
		err    error
	)
	if passphrase == "" {
		signer, err = ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%s %s is passphrase protected; set %s", n.of(FieldSSHKeyFile), file, n.of(FieldSSHKeyPassphraseFile))
		}
	} else {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s %s: %w", n.of(FieldSSHKeyFile), file, err)
	}
	c.sum, c.signer = sum, signer
	return signer, nil
}

// transportAuth reads the credential files and returns the go-git auth method
// (nil for anonymous and local access) and a Redactor for the secret values it
// read, which must be kept out of errors and logs.
func (s *Source) transportAuth() (transport.AuthMethod, *redact.Redactor, error) {
	switch s.cfg.protocol {
	case "http", "https":
		if s.cfg.auth.PasswordFile == "" {
			return nil, nil, nil
		}
		password, err := readPassword(s.cfg.auth.PasswordFile, s.cfg.names)
		if err != nil {
			return nil, nil, err
		}
		user := s.cfg.auth.Username
		if user == "" {
			user = s.cfg.urlUser
		}
		if user == "" {
			user = defaultUser
		}
		return &githttp.BasicAuth{Username: user, Password: password}, redact.New().WithBasicAuth(user, password), nil
	case "ssh":
		return s.sshAuth()
	}
	return nil, nil, nil
}

// readPassword reads an HTTP password or token file, trimmed.
func readPassword(file string, n names) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", n.of(FieldPasswordFile), err)
	}
	password := strings.TrimSpace(string(b))
	if password == "" {
		return "", fmt.Errorf("%s %s is empty", n.of(FieldPasswordFile), file)
	}
	return password, nil
}

// sshAuth reads the key, its passphrase and the known_hosts file.
func (s *Source) sshAuth() (transport.AuthMethod, *redact.Redactor, error) {
	a, n := s.cfg.auth, s.cfg.names
	var passphrase string
	if a.SSHKeyPassphraseFile != "" {
		b, err := os.ReadFile(a.SSHKeyPassphraseFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", n.of(FieldSSHKeyPassphraseFile), err)
		}
		passphrase = strings.TrimRight(string(b), "\r\n")
	}
	secrets := redact.New(passphrase)
	pem, err := os.ReadFile(a.SSHKeyFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("reading %s: %w", n.of(FieldSSHKeyFile), err)
	}
	signer, err := s.signers.get(a.SSHKeyFile, pem, passphrase, n)
	if err != nil {
		return nil, secrets, err
	}
	user := s.cfg.urlUser
	if user == "" {
		user = a.Username
	}
	if user == "" {
		user = defaultUser
	}
	keys := &gitssh.PublicKeys{User: user, Signer: signer}
	if a.InsecureSkipHostKeyCheck {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicitly configured, warned about on every Fetch
		return keys, secrets, nil
	}
	if _, err := os.Stat(a.KnownHostsFile); err != nil {
		return nil, secrets, fmt.Errorf("reading %s: %w", n.of(FieldKnownHostsFile), err)
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("parsing %s %s: %w", n.of(FieldKnownHostsFile), a.KnownHostsFile, err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(s.cfg.sshAddr)
	return keys, secrets, nil
}
