package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// jwtClaims are the registered claims the emulator reads and writes.
type jwtClaims struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  audience `json:"aud,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`
}

// audience is the aud claim: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings: %w", err)
	}
	*a = many
	return nil
}

// jwt is a parsed, not yet verified, compact JWS.
type jwt struct {
	alg, kid  string
	claims    jwtClaims
	signed    []byte // header.payload
	signature []byte
}

// parseJWT splits and decodes a compact JWS.
func parseJWT(token string) (jwt, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwt{}, fmt.Errorf("not a JWT: %d parts, want 3", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return jwt{}, fmt.Errorf("JWT header: %w", err)
	}
	var claims jwtClaims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return jwt{}, fmt.Errorf("JWT claims: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jwt{}, fmt.Errorf("JWT signature: %w", err)
	}
	return jwt{
		alg:       header.Alg,
		kid:       header.Kid,
		claims:    claims,
		signed:    []byte(parts[0] + "." + parts[1]),
		signature: sig,
	}, nil
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("decoding base64url: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}

// checkTimes checks exp (required) and nbf against now.
func (c jwtClaims) checkTimes(now time.Time) error {
	if c.Expiry == 0 {
		return errors.New("token has no expiry")
	}
	if !now.Before(time.Unix(c.Expiry, 0)) {
		return errors.New("token expired")
	}
	if c.NotBefore != 0 && now.Before(time.Unix(c.NotBefore, 0)) {
		return errors.New("token not valid yet")
	}
	return nil
}

// publicKey is a verification key with its optional key id.
type publicKey struct {
	kid string
	key crypto.PublicKey
}

// verifyWith checks the signature against the keys; a key with a kid is only
// tried for a token with the same kid (or none).
func (t jwt) verifyWith(keys []publicKey) error {
	for _, k := range keys {
		if t.kid != "" && k.kid != "" && t.kid != k.kid {
			continue
		}
		if verifySignature(t.alg, k.key, t.signed, t.signature) == nil {
			return nil
		}
	}
	return fmt.Errorf("signature does not verify with any key of the issuer (alg %q, kid %q)", t.alg, t.kid)
}

// verifySignature verifies a JWS signature: RS*, PS*, ES* and EdDSA.
func verifySignature(alg string, key crypto.PublicKey, signed, sig []byte) error {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	if alg == "EdDSA" {
		pub, ok := key.(ed25519.PublicKey)
		if !ok || !ed25519.Verify(pub, signed, sig) {
			return errors.New("bad EdDSA signature")
		}
		return nil
	}
	if len(alg) != 5 {
		return fmt.Errorf("unsupported alg %q", alg)
	}
	h, ok := hashes[alg[2:]]
	if !ok {
		return fmt.Errorf("unsupported alg %q", alg)
	}
	digest := hashOf(h, signed)
	switch alg[:2] {
	case "RS", "PS":
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an RSA key")
		}
		if alg[0] == 'R' {
			return rsa.VerifyPKCS1v15(pub, h, digest, sig)
		}
		return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES":
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("not an ECDSA key")
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size || pub.Curve.Params().BitSize != map[crypto.Hash]int{crypto.SHA256: 256, crypto.SHA384: 384, crypto.SHA512: 521}[h] {
			return errors.New("bad ECDSA signature size or curve")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return errors.New("bad ECDSA signature")
		}
		return nil
	default:
		return fmt.Errorf("unsupported alg %q", alg)
	}
}

func hashOf(h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(data)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(data)
		return d[:]
	default:
		d := sha256.Sum256(data)
		return d[:]
	}
}

// parseJWKS reads the public keys of a JSON Web Key Set: RSA, EC (P-256,
// P-384, P-521) and OKP (Ed25519). Keys for encryption (use "enc") are
// skipped.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	var out []publicKey
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		key, err := jwkKey(k.Kty, k.N, k.E, k.Crv, k.X, k.Y)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		out = append(out, publicKey{kid: k.Kid, key: key})
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS has no signing keys")
	}
	return out, nil
}

func jwkKey(kty, n, e, crv, x, y string) (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding
	switch kty {
	case "RSA":
		nb, err := b64.DecodeString(n)
		if err != nil || len(nb) == 0 {
			return nil, errors.New("bad RSA modulus n")
		}
		eb, err := b64.DecodeString(e)
		if err != nil || len(eb) == 0 || len(eb) > 4 {
			return nil, errors.New("bad RSA exponent e")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}, nil
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		curve, ok := curves[crv]
		if !ok {
			return nil, fmt.Errorf("unsupported curve %q", crv)
		}
		xb, errX := b64.DecodeString(x)
		yb, errY := b64.DecodeString(y)
		size := (curve.Params().BitSize + 7) / 8
		if errX != nil || errY != nil || len(xb) != size || len(yb) != size {
			return nil, fmt.Errorf("bad EC coordinates x, y for %s", crv)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, xb, yb))
		if err != nil {
			return nil, fmt.Errorf("bad EC point: %w", err)
		}
		return pub, nil
	case "OKP":
		xb, err := b64.DecodeString(x)
		if crv != "Ed25519" || err != nil || len(xb) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("unsupported OKP key (crv %q)", crv)
		}
		return ed25519.PublicKey(xb), nil
	default:
		return nil, fmt.Errorf("unsupported kty %q", kty)
	}
}

// signES256 makes a compact JWS of claims (jwtClaims, or a struct that
// embeds it) signed with key.
func signES256(key *ecdsa.PrivateKey, kid string, claims any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", fmt.Errorf("encoding JWT header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	b64 := base64.RawURLEncoding
	signed := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing JWT: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64.EncodeToString(sig), nil
}
