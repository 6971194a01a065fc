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
func (c *signerCache) get(file string, pem []byte, passphrase string) (ssh.Signer, error) {
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
			return nil, fmt.Errorf("Auth.SSHKeyFile %s is passphrase protected; set Auth.SSHKeyPassphraseFile", file)
		}
	} else {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	if err != nil {
		return nil, fmt.Errorf("parsing Auth.SSHKeyFile %s: %w", file, err)
	}
	c.sum, c.signer = sum, signer
	return signer, nil
}

// transportAuth reads the credential files and returns the go-git auth method
// (nil for anonymous and local access) and the secret values it read, which
// must be kept out of errors.
func (s *Source) transportAuth() (transport.AuthMethod, []string, error) {
	switch s.cfg.protocol {
	case "http", "https":
		if s.cfg.auth.PasswordFile == "" {
			return nil, nil, nil
		}
		password, err := readPassword(s.cfg.auth.PasswordFile)
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
		return &githttp.BasicAuth{Username: user, Password: password}, []string{password}, nil
	case "ssh":
		return s.sshAuth()
	}
	return nil, nil, nil
}

// readPassword reads an HTTP password or token file, trimmed.
func readPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading Auth.PasswordFile: %w", err)
	}
	password := strings.TrimSpace(string(b))
	if password == "" {
		return "", fmt.Errorf("Auth.PasswordFile %s is empty", file)
	}
	return password, nil
}

// sshAuth reads the key, its passphrase and the known_hosts file.
func (s *Source) sshAuth() (transport.AuthMethod, []string, error) {
	a := s.cfg.auth
	var passphrase string
	if a.SSHKeyPassphraseFile != "" {
		b, err := os.ReadFile(a.SSHKeyPassphraseFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading Auth.SSHKeyPassphraseFile: %w", err)
		}
		passphrase = strings.TrimRight(string(b), "\r\n")
	}
	secrets := []string{passphrase}
	pem, err := os.ReadFile(a.SSHKeyFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("reading Auth.SSHKeyFile: %w", err)
	}
	signer, err := s.signers.get(a.SSHKeyFile, pem, passphrase)
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
		return nil, secrets, fmt.Errorf("reading Auth.KnownHostsFile: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("parsing Auth.KnownHostsFile %s: %w", a.KnownHostsFile, err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(s.cfg.sshAddr)
	return keys, secrets, nil
}
