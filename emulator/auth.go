package emulator

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authEnabled reports whether calls need a bearer token.
func (s *Server) authEnabled() bool {
	return s.opts.Token != "" || s.opts.VerifyToken != nil || s.tokens != nil
}

// authInterceptor refuses calls without an accepted bearer token when
// authentication is on. The security token service authenticates its
// callers itself. Tokens never appear in its errors.
// The caller it accepts is recorded on the context, as the actor of the
// events the call causes.
func (s *Server) authInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.authEnabled() || strings.HasPrefix(info.FullMethod, stsPrefix) {
		return handler(withActor(ctx, AnonymousActor), req)
	}
	token, ok := bearer(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token in the authorization metadata")
	}
	actor, ok := s.acceptToken(ctx, token)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return handler(withActor(ctx, actor), req)
}

// acceptToken reports whether token is the configured one, an unexpired
// access token of the security token service (its actor is the identity,
// with the issuer and subject it was assumed with), or one that
// VerifyToken accepts.
func (s *Server) acceptToken(ctx context.Context, token string) (Actor, bool) {
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.Token)) == 1 {
		return TokenActor, true
	}
	if s.tokens != nil {
		if a, ok := s.tokens.acceptAccess(token, s.now()); ok {
			return a, true
		}
	}
	if s.opts.VerifyToken != nil && s.opts.VerifyToken(ctx, token) == nil {
		return TokenActor, true
	}
	return Actor{}, false
}

// bearer extracts the token of "authorization: Bearer <token>".
func bearer(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "bearer") && token != "" {
			return token, true
		}
	}
	return "", false
}
