package gitsource

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// TestNewRejectsBadConfig checks every configuration error New reports, by
// its exact text.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	password := filepath.Join(dir, "password")
	writeFile(t, password, "  s3cret-token\n")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n")
	key := newSSHKey(t, dir, "id_ed25519", "")
	locked := newSSHKey(t, dir, "id_locked", "open sesame")
	wrongPass := filepath.Join(dir, "wrong-pass")
	writeFile(t, wrongPass, "not the passphrase\n")
	known := knownHostsFile(t, dir, "example.com", 22, key.public)
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "hello")
	missing := filepath.Join(dir, "missing")

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{CacheDir: dir}, "gitsource config: URL is empty"},
		{"git scheme", Config{URL: "git://example.com/r.git", CacheDir: dir},
			`gitsource config: URL git://example.com/r.git: unsupported scheme "git" (use https, http, ssh, file or a local path)`},
		{"password in URL", Config{URL: "https://bob:hunter2@example.com/r.git", CacheDir: dir},
			"gitsource config: URL https://bob:REDACTED@example.com/r.git embeds a password; put it in Auth.PasswordFile instead"},
		{"no cache", Config{URL: "https://example.com/r.git"}, "gitsource config: CacheDir is empty"},
		{"negative timeout", Config{URL: "https://example.com/r.git", CacheDir: dir, Timeout: -time.Second},
			"gitsource config: Timeout -1s is negative"},
		{"bad branch", Config{URL: "https://example.com/r.git", CacheDir: dir, Ref: "a..b"},
			`gitsource config: Ref "a..b" is not a valid branch, tag or commit hash`},
		{"bad full ref", Config{URL: "https://example.com/r.git", CacheDir: dir, Ref: "refs/heads/x y"},
			`gitsource config: Ref "refs/heads/x y" is not a valid ref name`},
		{"path escapes", Config{URL: "https://example.com/r.git", CacheDir: dir, Path: "a/../../b"},
			`gitsource config: Path "a/../../b" leaves the repository`},
		{"backslash path", Config{URL: "https://example.com/r.git", CacheDir: dir, Path: `a\b`},
			`gitsource config: Path "a\\b" must use forward slashes`},
		{"ssh key for https", Config{URL: "https://example.com/r.git", CacheDir: dir, Auth: Auth{SSHKeyFile: key.file}},
			"gitsource config: Auth.SSHKeyFile is only used with ssh URLs, not https://example.com/r.git"},
		{"user without password", Config{URL: "https://example.com/r.git", CacheDir: dir, Auth: Auth{Username: "bob"}},
			"gitsource config: Auth.Username is set without Auth.PasswordFile"},
		{"missing password file", Config{URL: "https://example.com/r.git", CacheDir: dir, Auth: Auth{PasswordFile: missing}},
			"gitsource config: reading Auth.PasswordFile: open " + missing + ": no such file or directory"},
		{"empty password file", Config{URL: "https://example.com/r.git", CacheDir: dir, Auth: Auth{PasswordFile: empty}},
			"gitsource config: Auth.PasswordFile " + empty + " is empty"},
		{"bad CA bundle", Config{URL: "https://example.com/r.git", CacheDir: dir, CABundleFile: notPEM},
			"gitsource config: CABundleFile " + notPEM + " holds no PEM certificate"},
		{"password for ssh", Config{URL: "git@example.com:org/r.git", CacheDir: dir, Auth: Auth{PasswordFile: password}},
			"gitsource config: Auth.PasswordFile is only used with http(s) URLs, not git@example.com:org/r.git"},
		{"ssh without key", Config{URL: "ssh://git@example.com/r.git", CacheDir: dir},
			"gitsource config: Auth.SSHKeyFile is required for ssh URL ssh://git@example.com/r.git"},
		{"ssh without known_hosts", Config{URL: "git@example.com:org/r.git", CacheDir: dir, Auth: Auth{SSHKeyFile: key.file}},
			"gitsource config: Auth.KnownHostsFile is required for ssh URL git@example.com:org/r.git unless Auth.InsecureSkipHostKeyCheck is set"},
		{"known_hosts and insecure", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: key.file, KnownHostsFile: known, InsecureSkipHostKeyCheck: true}},
			"gitsource config: Auth.KnownHostsFile and Auth.InsecureSkipHostKeyCheck are mutually exclusive"},
		{"missing known_hosts", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: key.file, KnownHostsFile: missing}},
			"gitsource config: reading Auth.KnownHostsFile: stat " + missing + ": no such file or directory"},
		{"missing key", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: missing, KnownHostsFile: known}},
			"gitsource config: reading Auth.SSHKeyFile: open " + missing + ": no such file or directory"},
		{"key is not a key", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: notPEM, KnownHostsFile: known}},
			"gitsource config: parsing Auth.SSHKeyFile " + notPEM + ": ssh: no key found"},
		{"locked key without passphrase", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: locked.file, KnownHostsFile: known}},
			"gitsource config: Auth.SSHKeyFile " + locked.file + " is passphrase protected; set Auth.SSHKeyPassphraseFile"},
		{"wrong passphrase", Config{URL: "git@example.com:org/r.git", CacheDir: dir,
			Auth: Auth{SSHKeyFile: locked.file, SSHKeyPassphraseFile: wrongPass, KnownHostsFile: known}},
			"gitsource config: parsing Auth.SSHKeyFile " + locked.file + ": x509: decryption password incorrect"},
		{"bad keyring", Config{URL: "https://example.com/r.git", CacheDir: dir, Keyring: "not a key"},
			"gitsource config: Keyring: no armored OpenPGP public key found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New succeeded: %+v", s.cfg)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(tc.name, "missing") && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
			for _, secret := range []string{"hunter2", "s3cret-token", "open sesame", "not the passphrase"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains the secret %q", secret)
				}
			}
		})
	}
}

// TestNewNamesFlags: with Config.Names set, messages name the flags.
func TestNewNamesFlags(t *testing.T) {
	dir := t.TempDir()
	n := map[Field]string{FieldURL: "--git-url", FieldPasswordFile: "--git-password-file", FieldUsername: "--git-username",
		FieldSSHKeyFile: "--git-ssh-key-file", FieldKnownHostsFile: "--git-known-hosts-file",
		FieldInsecureSkipHostKeyCheck: "--git-insecure-skip-host-key-check", FieldRef: "--ref"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "https://bob:hunter2@example.com/r.git"},
			"gitsource config: --git-url https://bob:REDACTED@example.com/r.git embeds a password; put it in --git-password-file instead"},
		{Config{URL: "https://example.com/r.git", Auth: Auth{Username: "bob"}},
			"gitsource config: --git-username is set without --git-password-file"},
		{Config{URL: "ssh://git@example.com/r.git", Auth: Auth{SSHKeyFile: "/k"}},
			"gitsource config: --git-known-hosts-file is required for ssh URL ssh://git@example.com/r.git unless --git-insecure-skip-host-key-check is set"},
		{Config{URL: "https://example.com/r.git", Ref: "a..b"},
			`gitsource config: --ref "a..b" is not a valid branch, tag or commit hash`},
		{Config{URL: "https://example.com/r.git", Auth: Auth{PasswordFile: filepath.Join(dir, "missing")}},
			"gitsource config: reading --git-password-file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
	} {
		tc.cfg.CacheDir, tc.cfg.Names = dir, n
		_, err := New(tc.cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error\n%v\nwant\n%s", err, tc.want)
		}
	}
}

// TestNewAcceptsGoodConfig checks defaults and normalisation.
func TestNewAcceptsGoodConfig(t *testing.T) {
	dir := t.TempDir()
	key := newSSHKey(t, dir, "id", "")
	known := knownHostsFile(t, dir, "example.com", 2222, key.public)
	for _, tc := range []struct {
		cfg                       Config
		url, protocol, path, addr string
		kind                      refKind
	}{
		{Config{URL: "https://example.com/r.git", Path: "/ca-images-iac/"}, "https://example.com/r.git", "https", "ca-images-iac", "", refHead},
		{Config{URL: "http://example.com/r.git", Ref: "main", Path: "."}, "http://example.com/r.git", "http", "", "", refName},
		{Config{URL: "ssh://git@example.com:2222/r.git", Ref: "v1.2", Auth: Auth{SSHKeyFile: key.file, KnownHostsFile: known}},
			"ssh://git@example.com:2222/r.git", "ssh", "", "example.com:2222", refName},
		{Config{URL: "git@example.com:org/r.git", Ref: strings.Repeat("AB", 20), Auth: Auth{SSHKeyFile: key.file, InsecureSkipHostKeyCheck: true}},
			"git@example.com:org/r.git", "ssh", "", "example.com:22", refCommit},
		{Config{URL: "file:///srv/r.git", Ref: "refs/heads/main"}, "file:///srv/r.git", "file", "", "", refName},
		{Config{URL: "/srv/r", Path: "a//b/"}, "/srv/r", "file", "a/b", "", refHead},
	} {
		tc.cfg.CacheDir = dir
		s, err := New(tc.cfg)
		if err != nil {
			t.Errorf("New(%+v): %v", tc.cfg, err)
			continue
		}
		c := s.cfg
		if c.url != tc.url || c.protocol != tc.protocol || c.path != tc.path || c.sshAddr != tc.addr || c.target.kind != tc.kind || c.timeout != DefaultTimeout {
			t.Errorf("New(%+v): url %q protocol %q path %q addr %q kind %d timeout %s", tc.cfg, c.url, c.protocol, c.path, c.sshAddr, c.target.kind, c.timeout)
		}
	}
	pw := filepath.Join(dir, "pw")
	writeFile(t, pw, "tok\n")
	for _, tc := range []struct{ url, user, want string }{
		{"https://example.com/r.git", "", "git"},
		{"https://robot@example.com/r.git", "", "robot"},
		{"https://robot@example.com/r.git", "bot", "bot"},
	} {
		s, err := New(Config{URL: tc.url, CacheDir: dir, Auth: Auth{Username: tc.user, PasswordFile: pw}})
		if err != nil {
			t.Fatal(err)
		}
		auth, secrets, err := s.transportAuth()
		basic, ok := auth.(*githttp.BasicAuth)
		if err != nil || !ok || basic.Username != tc.want || basic.Password != "tok" {
			t.Errorf("%s with Username %q: %v %+v, want user %q", tc.url, tc.user, err, auth, tc.want)
		}
		if got, want := secrets.String("echo "+tc.want+":tok"), "echo "+tc.want+":REDACTED"; got != want {
			t.Errorf("%s with Username %q: the redactor turns the credentials into %q, want %q", tc.url, tc.user, got, want)
		}
	}

	rel, err := New(Config{URL: "relative/repo", CacheDir: dir})
	if err != nil || !filepath.IsAbs(rel.cfg.url) {
		t.Errorf("relative path: %v %q, want an absolute path", err, rel.cfg.url)
	}
}
