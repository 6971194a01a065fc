package gitsource

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshKey is an ed25519 key pair written to a file in OpenSSH format.
type sshKey struct {
	file   string // private key
	public ssh.PublicKey
}

// newSSHKey writes a new key to dir/name, encrypted when passphrase is set.
func newSSHKey(t *testing.T, dir, name, passphrase string) sshKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, name)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, name, []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	writeFile(t, file, string(pem.EncodeToMemory(block)))
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshKey{file: file, public: sshPub}
}

// knownHostsFile writes a known_hosts file that trusts key for host:port.
func knownHostsFile(t *testing.T, dir, host string, port int, key ssh.PublicKey) string {
	t.Helper()
	file := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(host + ":" + strconv.Itoa(port))}, key)
	writeFile(t, file, line+"\n")
	return file
}
