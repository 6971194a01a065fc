package chainguard

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"

	"chainguard.dev/sdk/auth"
)

// TokenNames names who a Chainguard token acts as, the way the service's
// events name an actor: the token's subject (an identity's UIDP) and its
// email claim when it has one. The claims are read without verifying the
// token: it is the daemon's own, and the names serve only to tell the
// daemon's own changes from other people's. A token that is not a JWT (or
// has no subject) names nobody.
func TokenNames(token string) []string {
	token = strings.TrimPrefix(token, "Bearer ")
	_, sub, err := auth.ExtractIssuerAndSubject(token)
	if err != nil || sub == "" {
		return nil
	}
	names := []string{sub}
	if email, _, err := auth.ExtractEmail(token); err == nil && email != "" && email != sub {
		names = append(names, email)
	}
	return names
}

// Self names the identity a TokenSource's tokens act as (TokenNames of its
// current token), decoding a token again only when it changes (a rotated
// token file). It keeps a digest of the token, not the token.
type Self struct {
	src TokenSource

	mu     sync.Mutex
	digest [sha256.Size]byte
	names  []string
}

// NewSelf returns the names of src's identity.
func NewSelf(src TokenSource) *Self { return &Self{src: src} }

// Names returns the current token's names; nil when it names nobody. When
// the token cannot be had just now (a token file being replaced), the last
// token's names stand.
func (s *Self) Names(ctx context.Context) []string {
	tok, err := s.src.Token(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.names
	}
	if sum := sha256.Sum256([]byte(tok)); sum != s.digest {
		s.digest, s.names = sum, TokenNames(tok)
	}
	return s.names
}
