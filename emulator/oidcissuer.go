package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"
)

// OIDCIssuer stands in for an OIDC provider (a Kubernetes cluster's service
// account issuer, a CI system) in tests and demos: it mints ES256 ID tokens
// that the emulator's security token service trusts once TrustedIssuer() is
// in Options.Issuers.
type OIDCIssuer struct {
	issuer string
	key    *ecdsa.PrivateKey
}

// NewOIDCIssuer makes an issuer with a fresh P-256 key. issuer is the iss
// claim of the tokens it mints.
func NewOIDCIssuer(issuer string) (*OIDCIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating OIDC issuer key: %w", err)
	}
	return &OIDCIssuer{issuer: issuer, key: key}, nil
}

// Issuer is the iss claim.
func (o *OIDCIssuer) Issuer() string { return o.issuer }

// TrustedIssuer is the entry for Options.Issuers.
func (o *OIDCIssuer) TrustedIssuer() TrustedIssuer {
	return TrustedIssuer{Issuer: o.issuer, Keys: []crypto.PublicKey{&o.key.PublicKey}}
}

// Mint signs an ID token for subject with the given audience, valid from now
// for ttl.
func (o *OIDCIssuer) Mint(subject, aud string, now time.Time, ttl time.Duration) (string, error) {
	return signES256(o.key, "", jwtClaims{
		Issuer:   o.issuer,
		Subject:  subject,
		Audience: audience{aud},
		IssuedAt: now.Unix(),
		Expiry:   now.Add(ttl).Unix(),
	})
}
