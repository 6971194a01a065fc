package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"
)

func TestParseJWKSErrors(t *testing.T) {
	for _, tc := range []struct{ name, jwks, want string }{
		{"not JSON", `{`, "decoding JWKS: unexpected end of JSON input"},
		{"no keys", `{"keys": []}`, "JWKS has no signing keys"},
		{"only encryption keys", `{"keys": [{"kty": "RSA", "use": "enc"}]}`, "JWKS has no signing keys"},
		{"unknown kty", `{"keys": [{"kty": "oct", "kid": "a"}]}`, `JWKS key 0 (kid "a"): unsupported kty "oct"`},
		{"bad exponent", `{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQABAQAB"}]}`, `JWKS key 0 (kid ""): bad RSA exponent e`},
		{"unknown curve", `{"keys": [{"kty": "EC", "crv": "P-192"}]}`, `JWKS key 0 (kid ""): unsupported curve "P-192"`},
		{"short coordinates", `{"keys": [{"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"}]}`, `JWKS key 0 (kid ""): bad EC coordinates x, y for P-256`},
		{"point off the curve", `{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE", "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}`,
			`JWKS key 0 (kid ""): bad EC point: P256 point not on curve`},
		{"bad OKP", `{"keys": [{"kty": "OKP", "crv": "X25519", "x": "AQAB"}]}`, `JWKS key 0 (kid ""): unsupported OKP key (crv "X25519")`},
	} {
		_, err := parseJWKS([]byte(tc.jwks))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
}

// Every supported algorithm verifies its own signatures and refuses a
// signature over other content or by another kind of key.
func TestVerifySignatureAlgorithms(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("header.payload")
	for _, tc := range []struct {
		alg  string
		pub  crypto.PublicKey
		sign func(digest []byte) ([]byte, error)
		hash crypto.Hash
	}{
		{"RS512", &rk.PublicKey, func(d []byte) ([]byte, error) { return rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA512, d) }, crypto.SHA512},
		{"PS256", &rk.PublicKey, func(d []byte) ([]byte, error) {
			return rsa.SignPSS(rand.Reader, rk, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}, crypto.SHA256},
		{"ES384", &ec384.PublicKey, func(d []byte) ([]byte, error) {
			r, s, err := ecdsa.Sign(rand.Reader, ec384, d)
			if err != nil {
				return nil, err
			}
			sig := make([]byte, 96)
			r.FillBytes(sig[:48])
			s.FillBytes(sig[48:])
			return sig, nil
		}, crypto.SHA384},
	} {
		sig, err := tc.sign(hashOf(tc.hash, msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := verifySignature(tc.alg, tc.pub, msg, sig); err != nil {
			t.Errorf("%s: %v", tc.alg, err)
		}
		if verifySignature(tc.alg, tc.pub, []byte("other"), sig) == nil {
			t.Errorf("%s verified a signature over other content", tc.alg)
		}
	}
	if verifySignature("ES256", &rk.PublicKey, msg, make([]byte, 64)) == nil {
		t.Error("ES256 accepted an RSA key")
	}
	if verifySignature("HS256", &rk.PublicKey, msg, nil) == nil {
		t.Error("HS256 accepted")
	}
	// ES256 with a P-384 key is refused even before checking the signature.
	if verifySignature("ES256", &ec384.PublicKey, msg, make([]byte, 96)) == nil {
		t.Error("ES256 accepted a P-384 key")
	}
}

func TestClaimsTimes(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		c    jwtClaims
		want string
	}{
		{jwtClaims{Expiry: 1001}, ""},
		{jwtClaims{Expiry: 1000}, "token expired"},
		{jwtClaims{}, "token has no expiry"},
		{jwtClaims{Expiry: 2000, NotBefore: 1001}, "token not valid yet"},
		{jwtClaims{Expiry: 2000, NotBefore: 1000}, ""},
	} {
		got := ""
		if err := tc.c.checkTimes(now); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
