package gitsource

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// defaultUser is the user name when none is configured: what GitHub, GitLab
// and most hosts expect over ssh, and accepted with a token over https.
const defaultUser = "git"

// transportAuth reads the credential files and returns the go-git auth method
// (nil for anonymous and local access) and the secret values it read, which
// must be kept out of errors.
func (s *settings) transportAuth() (transport.AuthMethod, []string, error) {
	switch s.protocol {
	case "http", "https":
		if s.auth.PasswordFile == "" {
			return nil, nil, nil
		}
		password, err := readPassword(s.auth.PasswordFile)
		if err != nil {
			return nil, nil, err
		}
		user := s.auth.Username
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
func (s *settings) sshAuth() (transport.AuthMethod, []string, error) {
	var passphrase string
	if s.auth.SSHKeyPassphraseFile != "" {
		b, err := os.ReadFile(s.auth.SSHKeyPassphraseFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading Auth.SSHKeyPassphraseFile: %w", err)
		}
		passphrase = strings.TrimRight(string(b), "\r\n")
	}
	secrets := []string{passphrase}
	pem, err := os.ReadFile(s.auth.SSHKeyFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("reading Auth.SSHKeyFile: %w", err)
	}
	user := s.sshUser
	if user == "" {
		user = s.auth.Username
	}
	if user == "" {
		user = defaultUser
	}
	if passphrase == "" {
		var missing *ssh.PassphraseMissingError
		if _, err := ssh.ParseRawPrivateKey(pem); errors.As(err, &missing) {
			return nil, secrets, fmt.Errorf("Auth.SSHKeyFile %s is passphrase protected; set Auth.SSHKeyPassphraseFile", s.auth.SSHKeyFile)
		}
	}
	keys, err := gitssh.NewPublicKeys(user, pem, passphrase)
	if err != nil {
		return nil, secrets, fmt.Errorf("parsing Auth.SSHKeyFile %s: %w", s.auth.SSHKeyFile, err)
	}
	if s.auth.InsecureSkipHostKeyCheck {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicitly configured
		return keys, secrets, nil
	}
	if _, err := os.Stat(s.auth.KnownHostsFile); err != nil {
		return nil, secrets, fmt.Errorf("reading Auth.KnownHostsFile: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(s.auth.KnownHostsFile)
	if err != nil {
		return nil, secrets, fmt.Errorf("parsing Auth.KnownHostsFile %s: %w", s.auth.KnownHostsFile, err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(s.sshAddr)
	return keys, secrets, nil
}
