package emulator

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	oidcv1 "chainguard.dev/sdk/proto/platform/oidc/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults of the security token service.
const (
	DefaultSTSAudience     = "issuer.enforce.dev"
	DefaultTokenTTL        = time.Hour
	DefaultRefreshTokenTTL = 24 * time.Hour
	// TokenIssuer is the iss claim of the access tokens the emulator issues.
	TokenIssuer = "emulator"
)

// stsPrefix is the full-method prefix of the security token service, which
// authenticates its callers itself.
const stsPrefix = "/chainguard.platform.oidc.SecurityTokenService/"

// TrustedIssuer is an OIDC issuer whose tokens the security token service
// exchanges, with the public keys that sign them.
type TrustedIssuer struct {
	// Issuer is the iss claim, for example "https://kubernetes.default.svc".
	Issuer string
	// JWKS is the issuer's JSON Web Key Set document (RSA, EC P-256/384/521
	// and Ed25519 keys). An invalid document makes every exchange of this
	// issuer's tokens fail with Internal and the parse error.
	JWKS []byte
	// Keys are more public keys: *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	Keys []crypto.PublicKey
}

// issuer is a TrustedIssuer ready to verify.
type issuer struct {
	keys []publicKey
	err  error // from parsing the JWKS
}

// identity is an IAM identity that an OIDC token can be exchanged for.
type identity struct {
	issuer, subject string
}

// tokens is the state of the security token service.
type tokens struct {
	key      *ecdsa.PrivateKey
	kid      string
	issuers  map[string]issuer
	audience string
	ttl      time.Duration
	refTTL   time.Duration

	mu         sync.Mutex
	identities map[string]identity
	refresh    map[string]refreshGrant // by jti
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	identity string
	aud      []string
	expiry   time.Time
}

// newTokens prepares the security token service, or returns nil when no
// issuer is trusted.
func newTokens(opts Options) *tokens {
	if len(opts.Issuers) == 0 {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("emulator: generating the token signing key: %v", err)) // crypto/rand does not fail
	}
	t := &tokens{
		key:        key,
		kid:        randomHex(8),
		issuers:    map[string]issuer{},
		audience:   opts.STSAudience,
		ttl:        opts.TokenTTL,
		refTTL:     opts.RefreshTokenTTL,
		identities: map[string]identity{},
		refresh:    map[string]refreshGrant{},
	}
	if t.audience == "" {
		t.audience = DefaultSTSAudience
	}
	if t.ttl <= 0 {
		t.ttl = DefaultTokenTTL
	}
	if t.refTTL <= 0 {
		t.refTTL = DefaultRefreshTokenTTL
	}
	for _, ti := range opts.Issuers {
		var is issuer
		if len(ti.JWKS) > 0 {
			is.keys, is.err = parseJWKS(ti.JWKS)
		}
		for _, k := range ti.Keys {
			is.keys = append(is.keys, publicKey{key: k})
		}
		t.issuers[ti.Issuer] = is
	}
	return t
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stsService is chainguard.platform.oidc.SecurityTokenService.
type stsService struct {
	oidcv1.UnimplementedSecurityTokenServiceServer
	s *Server
}

// Exchange trades an OIDC token (the bearer token of the call) for an access
// token and a refresh token. The OIDC token must come from a trusted issuer,
// verify with one of its keys, carry the STS audience, and be within its
// validity; it must match the requested identity (or, when none is
// requested, exactly one identity) by issuer and subject.
func (x *stsService) Exchange(ctx context.Context, req *oidcv1.ExchangeRequest) (*oidcv1.RawToken, error) {
	t := x.s.tokens
	raw, ok := bearer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token in the authorization metadata")
	}
	claims, err := t.verifyOIDC(raw, x.s.now())
	if err != nil {
		return nil, err
	}
	id, err := t.matchIdentity(req.GetIdentity(), claims)
	if err != nil {
		return nil, err
	}
	access, refresh, expiry, err := t.issue(id, req.GetAud(), x.s.now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "issuing token: %v", err)
	}
	return &oidcv1.RawToken{Token: access, RefreshToken: refresh, Expiry: timestamppb.New(expiry)}, nil
}

// ExchangeRefreshToken trades a refresh token (the bearer token of the call)
// for a new access token and a new refresh token; the old refresh token is
// spent.
func (x *stsService) ExchangeRefreshToken(ctx context.Context, req *oidcv1.ExchangeRefreshTokenRequest) (*oidcv1.TokenPair, error) {
	t := x.s.tokens
	raw, ok := bearer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token in the authorization metadata")
	}
	now := x.s.now()
	grant, err := t.spendRefresh(raw, now)
	if err != nil {
		return nil, err
	}
	aud := req.GetAud()
	if len(aud) == 0 {
		aud = grant.aud
	}
	access, refresh, expiry, err := t.issue(grant.identity, aud, now)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "issuing token: %v", err)
	}
	return &oidcv1.TokenPair{
		Token:        &oidcv1.RawToken{Token: access, Expiry: timestamppb.New(expiry)},
		RefreshToken: &oidcv1.RawToken{Token: refresh, Expiry: timestamppb.New(now.Add(t.refTTL))},
	}, nil
}

// verifyOIDC checks a presented OIDC token; its errors are Unauthenticated
// (or Internal for a trusted issuer whose JWKS did not parse).
func (t *tokens) verifyOIDC(raw string, now time.Time) (jwtClaims, error) {
	deny := func(format string, args ...any) (jwtClaims, error) {
		return jwtClaims{}, status.Errorf(codes.Unauthenticated, "invalid token: "+format, args...)
	}
	tok, err := parseJWT(raw)
	if err != nil {
		return deny("%v", err)
	}
	is, ok := t.issuers[tok.claims.Issuer]
	if !ok {
		return deny("untrusted issuer %q", tok.claims.Issuer)
	}
	if is.err != nil {
		return jwtClaims{}, status.Errorf(codes.Internal, "emulator: JWKS of issuer %q: %v", tok.claims.Issuer, is.err)
	}
	if err := tok.verifyWith(is.keys); err != nil {
		return deny("%v", err)
	}
	if !slices.Contains(tok.claims.Audience, t.audience) {
		return deny("audience %q does not include %q", strings.Join(tok.claims.Audience, ","), t.audience)
	}
	if err := tok.claims.checkTimes(now); err != nil {
		return deny("%v", err)
	}
	return tok.claims, nil
}

// matchIdentity returns the identity the token may act as.
func (t *tokens) matchIdentity(requested string, c jwtClaims) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if requested != "" {
		id, ok := t.identities[requested]
		if !ok {
			return "", status.Errorf(codes.NotFound, "identity %q not found", requested)
		}
		if id.issuer != c.Issuer || (id.subject != "" && id.subject != c.Subject) {
			return "", status.Errorf(codes.PermissionDenied, "token (iss %q, sub %q) does not match identity %q", c.Issuer, c.Subject, requested)
		}
		return requested, nil
	}
	var found []string
	for uid, id := range t.identities {
		if id.issuer == c.Issuer && id.subject == c.Subject {
			found = append(found, uid)
		}
	}
	if len(found) != 1 {
		return "", status.Errorf(codes.PermissionDenied, "%d identities match the token (iss %q, sub %q); name one", len(found), c.Issuer, c.Subject)
	}
	return found[0], nil
}

// issue makes an access token (an ES256 JWT, whose exp is whole seconds)
// and a refresh token for an identity.
func (t *tokens) issue(id string, aud []string, now time.Time) (access, refresh string, expiry time.Time, err error) {
	expiry = now.Add(t.ttl).Truncate(time.Second)
	access, err = signES256(t.key, t.kid, jwtClaims{
		Issuer:   TokenIssuer,
		Subject:  id,
		Audience: aud,
		IssuedAt: now.Unix(),
		Expiry:   expiry.Unix(),
		ID:       randomHex(16),
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	jti := randomHex(16)
	refExpiry := now.Add(t.refTTL)
	// Like Chainguard's, the refresh token is base64 of a JSON object with
	// exp, so that auth.ExtractRefreshExpiry reads it.
	body, err := json.Marshal(map[string]any{"exp": refExpiry.Unix(), "jti": jti})
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("encoding refresh token: %w", err)
	}
	t.mu.Lock()
	t.refresh[jti] = refreshGrant{identity: id, aud: append([]string(nil), aud...), expiry: refExpiry}
	t.mu.Unlock()
	return access, base64.StdEncoding.EncodeToString(body), expiry, nil
}

// spendRefresh checks a refresh token and invalidates it.
func (t *tokens) spendRefresh(raw string, now time.Time) (refreshGrant, error) {
	invalid := status.Error(codes.Unauthenticated, "invalid refresh token")
	body, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return refreshGrant{}, invalid
	}
	var rt struct {
		JTI string `json:"jti"`
	}
	if json.Unmarshal(body, &rt) != nil {
		return refreshGrant{}, invalid
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	grant, ok := t.refresh[rt.JTI]
	if !ok {
		return refreshGrant{}, invalid
	}
	delete(t.refresh, rt.JTI)
	if !now.Before(grant.expiry) {
		return refreshGrant{}, status.Error(codes.Unauthenticated, "refresh token expired")
	}
	if _, ok := t.identities[grant.identity]; !ok {
		return refreshGrant{}, status.Errorf(codes.PermissionDenied, "identity %q no longer exists", grant.identity)
	}
	return grant, nil
}

// acceptAccess reports whether raw is an unexpired access token this
// emulator issued for an identity that still exists, and returns the
// identity as an actor.
func (t *tokens) acceptAccess(raw string, now time.Time) (Actor, bool) {
	tok, err := parseJWT(raw)
	if err != nil || tok.claims.Issuer != TokenIssuer || tok.alg != "ES256" {
		return Actor{}, false
	}
	if verifySignature("ES256", &t.key.PublicKey, tok.signed, tok.signature) != nil || tok.claims.checkTimes(now) != nil {
		return Actor{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.identities[tok.claims.Subject]
	if !ok {
		return Actor{}, false
	}
	claims := map[string]string{"iss": id.issuer}
	if id.subject != "" {
		claims["sub"] = id.subject
	}
	return Actor{Subject: tok.claims.Subject, Claims: claims}, true
}

// CreateIdentity registers an identity under a group that OIDC tokens with
// the given issuer and subject can be exchanged for ("" subject: any
// subject of that issuer, when the identity is named in the exchange), and
// returns its UIDP. It fails when the security token service is off
// (Options.Issuers is empty) or parentID is not a group.
func (s *Server) CreateIdentity(parentID, issuer, subject string) (string, error) {
	if s.tokens == nil {
		return "", fmt.Errorf("creating identity: the security token service is off (no Options.Issuers)")
	}
	s.store.mu.Lock()
	_, ok := s.store.groups[parentID]
	s.store.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("creating identity: group %q not found", parentID)
	}
	id := string(uidp.NewUIDP(uidp.UIDP(parentID)))
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	s.tokens.identities[id] = identity{issuer: issuer, subject: subject}
	return id, nil
}

// DeleteIdentity removes an identity: its access and refresh tokens stop
// working.
func (s *Server) DeleteIdentity(id string) {
	if s.tokens == nil {
		return
	}
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	delete(s.tokens.identities, id)
}
