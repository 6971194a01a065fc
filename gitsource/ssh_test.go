package gitsource

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSSH fetches from a real sshd with go-git's SSH transport: a
// passphrase-protected key, known_hosts verification, then the ways it
// should fail. Neither the passphrase nor anything secret shows in errors or
// logs.
func TestSSH(t *testing.T) {
	const passphrase = "ssh-passphrase-open-sesame"
	dir := t.TempDir()
	client := newSSHKey(t, dir, "id_client", passphrase)
	plain := newSSHKey(t, dir, "id_plain", "") // no passphrase: cheaper to parse
	stranger := newSSHKey(t, dir, "id_stranger", "")
	srv := startSSHD(t, client.public, plain.public)
	up := newUpstream(t, seedFiles)
	passFile := filepath.Join(dir, "passphrase")
	writeFile(t, passFile, passphrase+"\n")
	known := knownHostsFile(t, t.TempDir(), "127.0.0.1", srv.port, srv.hostKey)
	auth := Auth{SSHKeyFile: client.file, SSHKeyPassphraseFile: passFile, KnownHostsFile: known}
	secrets := []string{passphrase}

	s, logs := newTestSource(t, Config{URL: srv.url(up.dir), Ref: "main", Path: "ca-images-iac", Auth: auth})
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != up.head() || len(files(snap)) != 3 {
		t.Fatalf("over ssh: %q %s with %d files", res, snap.Revision, len(files(snap)))
	}
	if _, res := fetch(t, s); res != Unchanged {
		t.Errorf("second Fetch: %q", res)
	}
	next := up.commit("next", map[string]string{"ca-images-iac/next.yaml": "n\n"})
	if snap, _ := fetch(t, s); snap.Revision != next {
		t.Errorf("new commit over ssh: %s, want %s", snap.Revision, next)
	}
	if c := s.counts(); c != (counts{Lists: 3, Fetches: 2, Clones: 1}) {
		t.Errorf("counts %+v", c)
	}

	// The passphrase file changes to a wrong value after New.
	writeFile(t, passFile, "wrong-"+passphrase)
	secrets = append(secrets, "wrong-"+passphrase)
	err := fetchErr(t, s)
	if !strings.Contains(err.Error(), "reading credentials for ") || !strings.Contains(err.Error(), "decryption password incorrect") {
		t.Errorf("wrong passphrase: %v", err)
	}
	assertNoSecretsIn(t, err, secrets...)
	writeFile(t, passFile, passphrase)
	assertNoSecrets(t, logs, secrets...)

	for _, tc := range []struct {
		name string
		auth Auth
		want string
	}{
		{"wrong host key", Auth{SSHKeyFile: plain.file,
			KnownHostsFile: knownHostsFile(t, t.TempDir(), "127.0.0.1", srv.port, stranger.public)},
			"knownhosts: key mismatch"},
		{"unknown host", Auth{SSHKeyFile: plain.file,
			KnownHostsFile: knownHostsFile(t, t.TempDir(), "127.0.0.1", srv.port+1, srv.hostKey)},
			"knownhosts: key is unknown"},
		{"key not authorized", Auth{SSHKeyFile: stranger.file, KnownHostsFile: known},
			"unable to authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newTestSource(t, Config{URL: srv.url(up.dir), Auth: tc.auth})
			err := fetchErr(t, s)
			want := "listing remote refs of " + srv.url(up.dir) + ": ssh: handshake failed: "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant %q...%q", err, want, tc.want)
			}
			if c := s.counts(); c.Fetches != 0 {
				t.Errorf("counts %+v: fetched after ls-remote failed", c)
			}
			assertNoSecretsIn(t, err, secrets...)
			assertNoSecrets(t, logs, secrets...)
		})
	}

	t.Run("insecure", func(t *testing.T) {
		s, logs := newTestSource(t, Config{URL: srv.url(up.dir), Auth: Auth{
			SSHKeyFile: plain.file, InsecureSkipHostKeyCheck: true}})
		if snap, _ := fetch(t, s); snap.Revision != next {
			t.Errorf("insecure: %s, want %s", snap.Revision, next)
		}
		if n := logs.FilterMessage(insecureWarning).Len(); n != 1 {
			t.Errorf("%d warnings about the skipped host key check in one Fetch, want 1", n)
		}
	})
}

// assertNoSecretsIn fails when err's message contains a secret.
func assertNoSecretsIn(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error contains secret %q: %v", s, err)
		}
	}
}
