package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUnverified matches (errors.Is) the error Fetch returns when Config.Keyring
// is set and the commit is not signed by one of its keys. Use errors.As with
// *UnverifiedError for the revision.
var ErrUnverified = errors.New("commit not signed by a trusted key")

// UnverifiedError says which revision failed signature verification and why.
type UnverifiedError struct {
	// Revision is the commit hash that was refused.
	Revision string
	// Err is the reason from the verifier.
	Err error
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("commit %s is not signed by a trusted key: %v", e.Revision, e.Err)
}

// Is makes errors.Is(err, ErrUnverified) true.
func (e *UnverifiedError) Is(target error) bool { return target == ErrUnverified }

// Unwrap returns the verifier's reason.
func (e *UnverifiedError) Unwrap() error { return e.Err }

// armorBegin starts every armored OpenPGP block.
const armorBegin = "-----BEGIN PGP "

// normalizeKeyring reads every armored block in armored (a file often holds
// several keys exported one after the other, while openpgp reads only the
// first block) and returns their public keys as one armored keyring.
func normalizeKeyring(armored string) (string, error) {
	var ring openpgp.EntityList
	rest := armored
	for n := 1; ; n++ {
		start := strings.Index(rest, armorBegin)
		if start < 0 {
			break
		}
		rest = rest[start:]
		end := strings.Index(rest[len(armorBegin):], armorBegin)
		block := rest
		if end >= 0 {
			block, rest = rest[:len(armorBegin)+end], rest[len(armorBegin)+end:]
		} else {
			rest = ""
		}
		entities, err := openpgp.ReadArmoredKeyRing(strings.NewReader(block))
		if err != nil {
			return "", fmt.Errorf("key block %d: %w", n, err)
		}
		ring = append(ring, entities...)
	}
	if len(ring) == 0 {
		return "", errors.New("no armored OpenPGP public key found")
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	for _, e := range ring {
		if err := e.Serialize(w); err != nil {
			return "", fmt.Errorf("re-encoding key %X: %w", e.PrimaryKey.Fingerprint, err)
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// verifyCommit checks the commit's OpenPGP signature against the keyring and
// returns the signer's fingerprint.
func verifyCommit(c *object.Commit, armoredKeyring string) (string, error) {
	if strings.TrimSpace(c.PGPSignature) == "" {
		return "", &UnverifiedError{Revision: c.Hash.String(), Err: errors.New("commit is not signed")}
	}
	entity, err := c.Verify(armoredKeyring)
	if err != nil {
		return "", &UnverifiedError{Revision: c.Hash.String(), Err: err}
	}
	return fmt.Sprintf("%X", entity.PrimaryKey.Fingerprint), nil
}
