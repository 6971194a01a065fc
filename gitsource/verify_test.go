package gitsource

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv/pgptest"
)

// commitSigned commits files to the upstream with go-git, signed by key
// (unsigned when key is nil), and returns the hash.
func (u *upstream) commitSigned(msg string, files map[string]string, key *openpgp.Entity) string {
	u.t.Helper()
	u.write(files)
	return pgptest.CommitAll(u.t, u.dir, msg, key)
}

// TestSignedCommits: with a keyring, only commits signed by one of its keys
// are served; others fail with ErrUnverified while LastVerified keeps the
// last good snapshot.
func TestSignedCommits(t *testing.T) {
	trusted, trustedPub := pgptest.NewKey(t, "Trusted")
	other, otherPub := pgptest.NewKey(t, "Other")
	_, spare := pgptest.NewKey(t, "Spare")
	keyring := spare + "\n" + trustedPub // a ring of two keys

	up := newUpstream(t, map[string]string{"cfg/a.yaml": "1\n"})
	good := up.commitSigned("signed", map[string]string{"cfg/a.yaml": "2\n"}, trusted)
	cache := t.TempDir()
	s, logs := newTestSource(t, Config{URL: up.dir, Path: "cfg", Keyring: keyring, CacheDir: cache})

	if _, ok := s.LastVerified(); ok {
		t.Error("LastVerified before any Fetch")
	}
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != good {
		t.Fatalf("signed head: %q %s, want %s", res, snap.Revision, good)
	}
	if want := fmt.Sprintf("%X", trusted.PrimaryKey.Fingerprint); snap.SignedBy != want {
		t.Errorf("SignedBy %q, want %q", snap.SignedBy, want)
	}
	last, ok := s.LastVerified()
	if !ok || last.Revision != good {
		t.Errorf("LastVerified = %s %v, want %s", last.Revision, ok, good)
	}

	refuse := func(t *testing.T, s *Source, rev, reason string) {
		t.Helper()
		err := fetchErr(t, s)
		var uerr *UnverifiedError
		if !errors.Is(err, ErrUnverified) || !errors.As(err, &uerr) {
			t.Fatalf("error %v, want ErrUnverified", err)
		}
		if uerr.Revision != rev {
			t.Errorf("refused revision %s, want %s", uerr.Revision, rev)
		}
		want := "checking signature of " + up.dir + " refs/heads/main: commit " + rev + " is not signed by a trusted key: " + reason
		if err.Error() != want {
			t.Errorf("error\n%s\nwant\n%s", err, want)
		}
	}

	unsigned := up.commitSigned("unsigned", map[string]string{"cfg/a.yaml": "3\n"}, nil)
	refuse(t, s, unsigned, "commit is not signed")
	before := s.counts()
	refuse(t, s, unsigned, "commit is not signed")
	if after := s.counts(); after.Fetches != before.Fetches {
		t.Errorf("the same unverified head was fetched again: %+v -> %+v", before, after)
	}
	if last, _ := s.LastVerified(); last.Revision != good || files(last)["a.yaml"] != "2\n" {
		t.Errorf("LastVerified after refusal = %s, want %s", last.Revision, good)
	}
	if !hasLog(logs, "refusing commit without a trusted signature") {
		t.Error("no log line for the refusal")
	}

	forged := up.commitSigned("other key", map[string]string{"cfg/a.yaml": "4\n"}, other)
	refuse(t, s, forged, "openpgp: signature made by unknown entity")
	if last, _ := s.LastVerified(); last.Revision != good {
		t.Errorf("LastVerified after a foreign signature = %s, want %s", last.Revision, good)
	}

	// The other key, once trusted, is accepted.
	withOther, _ := newTestSource(t, Config{URL: up.dir, Path: "cfg", Keyring: keyring + "\n" + otherPub})
	if snap, _ := fetch(t, withOther); snap.Revision != forged {
		t.Errorf("with the other key trusted: %s, want %s", snap.Revision, forged)
	}

	// A restart on an unverified cache serves nothing.
	restarted, _ := newTestSource(t, Config{URL: up.dir, Path: "cfg", Keyring: keyring, CacheDir: cache})
	refuse(t, restarted, forged, "openpgp: signature made by unknown entity")
	if _, ok := restarted.LastVerified(); ok {
		t.Error("LastVerified after a restart onto an unverified commit")
	}

	fixed := up.commitSigned("signed again", map[string]string{"cfg/a.yaml": "5\n"}, trusted)
	snap, res = fetch(t, s)
	if res != Updated || snap.Revision != fixed {
		t.Errorf("signed again: %q %s, want %s", res, snap.Revision, fixed)
	}
	if last, _ := s.LastVerified(); last.Revision != fixed {
		t.Errorf("LastVerified = %s, want %s", last.Revision, fixed)
	}

	// A pinned commit that is not signed is refused, every time.
	pinned, _ := newTestSource(t, Config{URL: up.dir, Ref: unsigned, Path: "cfg", Keyring: keyring})
	for range 2 {
		err := fetchErr(t, pinned)
		var uerr *UnverifiedError
		if !errors.As(err, &uerr) || uerr.Revision != unsigned {
			t.Errorf("pinned unsigned commit: %v", err)
		}
	}
}

// TestNormalizeKeyring: a keyring may hold several armored blocks, as files
// of exported keys do; all of their keys count.
func TestNormalizeKeyring(t *testing.T) {
	a, aPub := pgptest.NewKey(t, "A")
	b, bPub := pgptest.NewKey(t, "B")
	for _, in := range []string{aPub + bPub, aPub + "\n\n" + bPub, "comment\n" + aPub + "\r\n" + bPub} {
		out, err := normalizeKeyring(in)
		if err != nil {
			t.Fatalf("normalizeKeyring: %v", err)
		}
		ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if len(ring) != 2 || ring[0].PrimaryKey.KeyId != a.PrimaryKey.KeyId || ring[1].PrimaryKey.KeyId != b.PrimaryKey.KeyId {
			t.Errorf("normalized ring holds %d keys, want A and B", len(ring))
		}
	}
	for in, want := range map[string]string{
		"":          "no armored OpenPGP public key found",
		"not a key": "no armored OpenPGP public key found",
		aPub + "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ngarbage\n-----END PGP PUBLIC KEY BLOCK-----\n": "key block 2: ",
	} {
		if _, err := normalizeKeyring(in); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("normalizeKeyring(%.30q) = %v, want %q...", in, err, want)
		}
	}
}
