package gitsource

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
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

// checkKeyring makes sure an armored keyring parses and holds a key.
func checkKeyring(armored string) error {
	ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return err
	}
	if len(ring) == 0 {
		return errors.New("no public key found")
	}
	return nil
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
