package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	eventsv1 "chainguard.dev/sdk/proto/platform/events/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	oidcv1 "chainguard.dev/sdk/proto/platform/oidc/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
)

// Defaults for Options.
const (
	DefaultBuildDuration   = 2 * time.Second
	DefaultBuildTimeout    = time.Hour
	DefaultReportRetention = 24 * time.Hour
)

// Options configure a Server. The zero value is a working emulator without
// authentication.
type Options struct {
	// Token, when not empty, must be presented on every call as the
	// metadata "authorization: Bearer <Token>"; other calls fail with
	// Unauthenticated.
	Token string
	// VerifyToken, when not nil, turns authentication on and is asked about
	// every bearer token that is not Token; a nil error accepts the call.
	// Use it to accept tokens issued elsewhere (for example by an STS).
	VerifyToken func(ctx context.Context, token string) error

	// BuildDuration is how long a simulated build takes. Default 2s.
	BuildDuration time.Duration
	// BuildTimeout is how long a hanging build stays pending before it
	// fails as timed out, like the real service's one-hour limit.
	// Default 1h.
	BuildTimeout time.Duration
	// HangPackages are packages whose builds hang: an overlay naming any of
	// them builds until BuildTimeout. The seed's slow_packages add to them.
	HangPackages []string
	// HangRepos are repo names (in any organization) whose builds hang.
	// The seed's slow_repos add to them.
	HangRepos []string
	// ReportRetention is how long build reports are kept. Default 24h.
	ReportRetention time.Duration

	// Now is the clock used for timestamps (create_time, started_at,
	// completed_at, the default started_since and retention) and token
	// validity. Default time.Now. Build completion itself runs on real
	// timers.
	Now func() time.Time

	// Issuers, when not empty, turn on the security token service
	// (chainguard.platform.oidc.SecurityTokenService, served on the same
	// address, so the issuer URL is the emulator's URL) and authentication:
	// the API then accepts the access tokens it issues. Register identities
	// with CreateIdentity.
	Issuers []TrustedIssuer
	// STSAudience is the audience presented OIDC tokens must carry.
	// Default "issuer.enforce.dev".
	STSAudience string
	// TokenTTL is the lifetime of issued access tokens. Default 1h.
	TokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of issued refresh tokens. Default 24h.
	RefreshTokenTTL time.Duration

	// Latency is a fixed delay added to every call before it is handled, so
	// that a benchmark can show wall time as it would be against the real
	// API (which answers in tens of milliseconds). The seed's latency and
	// SetLatency change it later.
	Latency time.Duration

	// EventsIssuer is the iss claim of event delivery tokens and the issuer
	// URL of the discovery document the emulator serves. Default the URL of
	// the first address it serves (see IssuerURL).
	EventsIssuer string
	// EventAttempts is how many times a delivery is tried before it is
	// dropped. Default 5.
	EventAttempts int
	// EventRetryDelay is the wait before the second attempt; it doubles
	// after each. Default 200ms.
	EventRetryDelay time.Duration

	// DisableRegistryV2 makes every call of the v2 ReposService
	// (chainguard.platform.registry.v2) fail with Unimplemented, as a server
	// without it does, so that a client's fallback to v1 can be tested. The
	// seed's registry_v2 and SetRegistryV2 change it later.
	DisableRegistryV2 bool
}

// Server is the emulator. Create it with New, serve it with Serve or Start,
// and stop it with Close.
type Server struct {
	opts Options
	now  func() time.Time
	grpc *grpc.Server

	store  *store
	tokens *tokens // nil when the security token service is off
	builds *builder
	faults *faults
	counts *counter

	v2Off  atomic.Bool // the v2 ReposService answers Unimplemented
	events *events
	http   *http.Server // the events issuer, on the gRPC address

	mu      sync.Mutex
	splits  []*split // the served addresses
	serving sync.WaitGroup
	once    sync.Once
}

// New returns an emulator with an empty store.
func New(opts Options) *Server {
	defaults.Positive(&opts.BuildDuration, DefaultBuildDuration)
	defaults.Positive(&opts.BuildTimeout, DefaultBuildTimeout)
	defaults.Positive(&opts.ReportRetention, DefaultReportRetention)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		opts:   opts,
		now:    now,
		store:  newStore(),
		tokens: newTokens(opts),
		faults: newFaults(),
		counts: newCounter(),
	}
	s.builds = newBuilder(s.store, now, opts.BuildDuration, opts.BuildTimeout, opts.HangPackages)
	s.builds.hangRepos = setOf(opts.HangRepos)
	s.v2Off.Store(opts.DisableRegistryV2)
	s.events = newEvents(opts, now)
	s.http = &http.Server{Handler: s.events.issuerHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.faults.base = max(opts.Latency, 0)
	s.grpc = grpc.NewServer(
		grpc.WaitForHandlers(true),
		grpc.ChainUnaryInterceptor(s.countInterceptor, recoverInterceptor, s.faultInterceptor, s.authInterceptor, s.v2Interceptor),
	)
	iamv1.RegisterGroupsServer(s.grpc, &groupsService{s: s})
	registryv1.RegisterRegistryServer(s.grpc, &registryService{s: s})
	registryv2.RegisterReposServiceServer(s.grpc, &reposV2Service{s: s})
	apkv1.RegisterAPKServer(s.grpc, &apkService{s: s})
	eventsv1.RegisterSubscriptionsServer(s.grpc, &subscriptionsService{s: s})
	if s.tokens != nil {
		oidcv1.RegisterSecurityTokenServiceServer(s.grpc, &stsService{s: s})
	}
	return s
}

// Serve serves the API on lis until Close. It returns nil after Close.
func (s *Server) Serve(lis net.Listener) error {
	url := "http://" + lis.Addr().String()
	s.events.setIssuer(url)
	sp := newSplit(lis)
	s.mu.Lock()
	s.splits = append(s.splits, sp)
	s.mu.Unlock()
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.http.Serve(sp.http) // ends with Close
	}()
	if err := s.grpc.Serve(sp.grpc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving the emulator on %s: %w", lis.Addr(), err)
	}
	return nil
}

// Start listens on addr (default "127.0.0.1:0"), serves in the background
// until Close, and returns the URL to give the SDK: "http://HOST:PORT".
// The same address serves the events issuer (IssuerURL).
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("starting the emulator: %w", err)
	}
	url := "http://" + lis.Addr().String()
	s.events.setIssuer(url)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.Serve(lis)
	}()
	return url, nil
}

// Close stops serving (cancelling calls in flight and waiting for their
// handlers), stops every pending build and event delivery, and waits for
// all goroutines the Server started. It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.grpc.Stop()
		_ = s.http.Close()
		s.mu.Lock()
		splits := s.splits
		s.mu.Unlock()
		for _, sp := range splits {
			sp.close()
			<-sp.done
		}
		s.serving.Wait()
		s.builds.close()
		s.events.close()
	})
}

// recoverInterceptor turns a panic in a handler into an Internal error, so
// that one bad request cannot stop a test's server.
func recoverInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, status.Errorf(codes.Internal, "emulator: panic in %s: %v", info.FullMethod, p)
		}
	}()
	return handler(ctx, req)
}
