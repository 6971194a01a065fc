package emulator_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"chainguard.dev/sdk/auth"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	oidcv1 "chainguard.dev/sdk/proto/platform/oidc/v1"
	"chainguard.dev/sdk/sts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/jonboulle/clockwork"
)

const (
	k8sIssuer  = "https://kubernetes.example"
	apiAud     = "https://console-api.enforce.dev"
	saSubject  = "system:serviceaccount:ca:reconciler"
	stsSeconds = 1_780_000_000 // a whole-second start for the fake clock
)

// oidcIssuer signs OIDC tokens the way a Kubernetes API server or CI does.
type oidcIssuer struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcIssuer{ec: ec, rsa: rk, ed: ed}
}

// jwks publishes the EC and RSA keys; the Ed25519 key is given as a raw key.
func (o *oidcIssuer) jwks(t *testing.T) []byte {
	t.Helper()
	b64 := base64.RawURLEncoding
	ecBytes, err := o.ec.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256", "x": b64.EncodeToString(ecBytes[1:33]), "y": b64.EncodeToString(ecBytes[33:])},
		{"kty": "RSA", "kid": "rsa1", "n": b64.EncodeToString(o.rsa.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(o.rsa.E)).Bytes())},
	}}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mint signs claims with alg ES256 (kid ec1), RS256 (kid rsa1) or EdDSA.
func (o *oidcIssuer) mint(t *testing.T, alg string, claims map[string]any) string {
	t.Helper()
	kid := map[string]string{"ES256": "ec1", "RS256": "rsa1", "EdDSA": ""}[alg]
	header, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	payload, _ := json.Marshal(claims)
	b64 := base64.RawURLEncoding
	signed := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, o.ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "RS256":
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, o.rsa, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	case "EdDSA":
		sig = ed25519.Sign(o.ed, []byte(signed))
	case "none":
	}
	return signed + "." + b64.EncodeToString(sig)
}

// claims are valid claims at the fake clock's start, with overrides.
func claims(over map[string]any) map[string]any {
	c := map[string]any{
		"iss": k8sIssuer,
		"sub": saSubject,
		"aud": []string{"issuer.enforce.dev"},
		"iat": stsSeconds,
		"exp": stsSeconds + 600,
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

type stsWorld struct {
	emu      *emulator.Server
	url      string
	clock    *clockwork.FakeClock
	idp      *oidcIssuer
	org      string
	identity string
}

func newSTSWorld(t *testing.T) *stsWorld {
	t.Helper()
	idp := newOIDCIssuer(t)
	clock := clockwork.NewFakeClockAt(time.Unix(stsSeconds, 0))
	emu, url := start(t, emulator.Options{
		Now:      clock.Now,
		TokenTTL: 10 * time.Minute,
		Issuers: []emulator.TrustedIssuer{
			{Issuer: k8sIssuer, JWKS: idp.jwks(t), Keys: []crypto.PublicKey{idp.ed.Public()}},
			{Issuer: "https://broken.example", JWKS: []byte(`{"keys": [{"kty": "RSA", "n": ""}]}`)},
		},
	})
	org := emu.CreateOrg("acme.example")
	id, err := emu.CreateIdentity(org, k8sIssuer, saSubject)
	if err != nil {
		t.Fatal(err)
	}
	return &stsWorld{emu: emu, url: url, clock: clock, idp: idp, org: org, identity: id}
}

// listGroupsWith calls the API with a bearer token.
func (w *stsWorld) listGroupsWith(t *testing.T, token string) error {
	t.Helper()
	_, err := dial(t, w.url, token).IAM().Groups().List(t.Context(), &iamv1.GroupFilter{})
	return err
}

func TestSTSExchangeWithTheSDK(t *testing.T) {
	w := newSTSWorld(t)
	ctx := t.Context()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			pair, err := sts.ExchangePair(ctx, w.url, apiAud, w.idp.mint(t, alg, claims(nil)), sts.WithIdentity(w.identity))
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Unix(stsSeconds, 0).Add(10 * time.Minute); !pair.Expiry.Equal(want) {
				t.Errorf("expiry = %v, want %v", pair.Expiry, want)
			}
			if exp, err := auth.ExtractExpiry(pair.AccessToken); err != nil || !exp.Equal(pair.Expiry) {
				t.Errorf("access token exp = %v, %v; want %v", exp, err, pair.Expiry)
			}
			if iss, sub, err := auth.ExtractIssuerAndSubject(pair.AccessToken); err != nil || iss != emulator.TokenIssuer || sub != w.identity {
				t.Errorf("access token iss, sub = %q, %q, %v", iss, sub, err)
			}
			if aud, err := auth.ExtractAudiences(pair.AccessToken); err != nil || len(aud) != 1 || aud[0] != apiAud {
				t.Errorf("access token aud = %v, %v", aud, err)
			}
			if exp, err := auth.ExtractRefreshExpiry(pair.RefreshToken); err != nil || !exp.Equal(time.Unix(stsSeconds, 0).Add(emulator.DefaultRefreshTokenTTL)) {
				t.Errorf("refresh token exp = %v, %v", exp, err)
			}
			wantStatus(t, w.listGroupsWith(t, pair.AccessToken), codes.OK, "")
		})
	}

	// Without naming the identity, the one matching issuer and subject is used.
	pair, err := sts.ExchangePair(ctx, w.url, apiAud, w.idp.mint(t, "ES256", claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, w.listGroupsWith(t, pair.AccessToken), codes.OK, "")

	// The access token works until it expires.
	w.clock.Advance(10*time.Minute - time.Second)
	wantStatus(t, w.listGroupsWith(t, pair.AccessToken), codes.OK, "")
	w.clock.Advance(time.Second)
	wantStatus(t, w.listGroupsWith(t, pair.AccessToken), codes.Unauthenticated, "invalid bearer token")
	// Neither OIDC nor refresh tokens are access tokens.
	wantStatus(t, w.listGroupsWith(t, w.idp.mint(t, "ES256", claims(map[string]any{"exp": stsSeconds + 7200}))), codes.Unauthenticated, "invalid bearer token")
	wantStatus(t, w.listGroupsWith(t, pair.RefreshToken), codes.Unauthenticated, "invalid bearer token")

	// Refresh, with the SDK's exchanger: the new pair works; the old refresh
	// token is spent.
	xchg := sts.New(w.url, apiAud)
	access, refresh, err := xchg.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, w.listGroupsWith(t, access), codes.OK, "")
	_, _, err = xchg.Refresh(ctx, pair.RefreshToken)
	wantSDKStatus(t, err, codes.Unauthenticated, "invalid refresh token")
	if _, _, err := xchg.Refresh(ctx, refresh); err != nil {
		t.Errorf("second refresh: %v", err)
	}

	// Deleting the identity ends its tokens.
	w.emu.DeleteIdentity(w.identity)
	wantStatus(t, w.listGroupsWith(t, access), codes.Unauthenticated, "invalid bearer token")

	if got := w.emu.Calls(oidcv1.SecurityTokenService_Exchange_FullMethodName); got != 4 {
		t.Errorf("%d Exchange calls counted, want 4", got)
	}
}

func TestSTSExchangeRefusals(t *testing.T) {
	w := newSTSWorld(t)
	other := newOIDCIssuer(t)
	otherIdentity, err := w.emu.CreateIdentity(w.org, k8sIssuer, "system:serviceaccount:other:sa")
	if err != nil {
		t.Fatal(err)
	}
	good := w.idp.mint(t, "ES256", claims(nil))
	for _, tc := range []struct {
		name, token, identity string
		code                  codes.Code
		msg                   string
	}{
		{"signed by another key", other.mint(t, "ES256", claims(nil)), w.identity, codes.Unauthenticated,
			`invalid token: signature does not verify with any key of the issuer (alg "ES256", kid "ec1")`},
		{"alg none", w.idp.mint(t, "none", claims(nil)), w.identity, codes.Unauthenticated,
			`invalid token: signature does not verify with any key of the issuer (alg "none", kid "")`},
		{"untrusted issuer", w.idp.mint(t, "ES256", claims(map[string]any{"iss": "https://evil.example"})), w.identity, codes.Unauthenticated,
			`invalid token: untrusted issuer "https://evil.example"`},
		{"wrong audience", w.idp.mint(t, "ES256", claims(map[string]any{"aud": "https://console-api.enforce.dev"})), w.identity, codes.Unauthenticated,
			`invalid token: audience "https://console-api.enforce.dev" does not include "issuer.enforce.dev"`},
		{"expired", w.idp.mint(t, "ES256", claims(map[string]any{"exp": stsSeconds})), w.identity, codes.Unauthenticated,
			"invalid token: token expired"},
		{"no expiry", w.idp.mint(t, "ES256", claims(map[string]any{"exp": nil})), w.identity, codes.Unauthenticated,
			"invalid token: token has no expiry"},
		{"not yet valid", w.idp.mint(t, "ES256", claims(map[string]any{"nbf": stsSeconds + 60})), w.identity, codes.Unauthenticated,
			"invalid token: token not valid yet"},
		{"not a JWT", "opaque", w.identity, codes.Unauthenticated, "invalid token: not a JWT: 1 parts, want 3"},
		{"unknown identity", good, w.org + "/0123456789abcdef", codes.NotFound,
			`identity "` + w.org + `/0123456789abcdef" not found`},
		{"identity of another subject", good, otherIdentity, codes.PermissionDenied,
			`token (iss "https://kubernetes.example", sub "system:serviceaccount:ca:reconciler") does not match identity "` + otherIdentity + `"`},
		{"no identity matches", w.idp.mint(t, "ES256", claims(map[string]any{"sub": "nobody"})), "", codes.PermissionDenied,
			`0 identities match the token (iss "https://kubernetes.example", sub "nobody"); name one`},
		{"issuer with a broken JWKS", w.idp.mint(t, "ES256", claims(map[string]any{"iss": "https://broken.example"})), "", codes.Internal,
			`emulator: JWKS of issuer "https://broken.example": JWKS key 0 (kid ""): bad RSA modulus n`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sts.ExchangePair(t.Context(), w.url, apiAud, tc.token, sts.WithIdentity(tc.identity))
			wantSDKStatus(t, err, tc.code, tc.msg)
		})
	}

	// The API refuses other tokens.
	wantStatus(t, w.listGroupsWith(t, ""), codes.Unauthenticated, "invalid bearer token")
}

func TestCreateIdentityErrors(t *testing.T) {
	emu, _ := start(t, emulator.Options{})
	if _, err := emu.CreateIdentity(emu.CreateOrg("a"), k8sIssuer, saSubject); err == nil ||
		err.Error() != "creating identity: the security token service is off (no Options.Issuers)" {
		t.Errorf("CreateIdentity without STS = %v", err)
	}
	w := newSTSWorld(t)
	if _, err := w.emu.CreateIdentity("nope", k8sIssuer, saSubject); err == nil || err.Error() != `creating identity: group "nope" not found` {
		t.Errorf("CreateIdentity under an unknown group = %v", err)
	}
}

// wantSDKStatus checks the code and message of a gRPC error that the SDK
// may have wrapped.
func wantSDKStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		t.Errorf("error = %v, want %s %q", err, code, msg)
		return
	}
	st := se.GRPCStatus()
	if st.Code() != code || st.Message() != msg {
		t.Errorf("error = %s %q, want %s %q", st.Code(), st.Message(), code, msg)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error leaks a token: %v", err)
	}
}
