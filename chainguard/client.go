package chainguard

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	"chainguard.dev/sdk/proto/platform"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// DefaultCallTimeout bounds every API call that has no earlier deadline.
const DefaultCallTimeout = 30 * time.Second

// DefaultMaxReceiveBytes is the largest answer the client accepts. grpc-go's
// own default is 4 MiB, which one v1 ListRepos of a large organization can
// pass (every repo, with its overlay and readme, in one message); 64 MiB
// leaves room for tens of thousands of repos while still bounding memory.
const DefaultMaxReceiveBytes = 64 << 20

// Observer is told about every API call; the metrics package implements it.
type Observer interface {
	ObserveAPIRequest(method, code string, seconds float64)
}

// Config says how to reach the API.
type Config struct {
	// URL of the API, https:// (or http:// for loopback or with Insecure).
	URL string
	// Tokens supplies the bearer token; nil sends no credentials.
	Tokens TokenSource
	// CallTimeout bounds each call; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxReceiveBytes bounds the size of one answer; zero means
	// DefaultMaxReceiveBytes. A larger answer fails with ErrTooLarge.
	MaxReceiveBytes int
	// Insecure allows plaintext http:// to a host that is not loopback.
	Insecure bool
	// Observer, if set, sees every call's method, code and duration.
	Observer Observer
	// Now is the clock used to time calls; nil means time.Now.
	Now func() time.Time
	// Logger receives the one message saying that the server does not
	// serve registry v2 and writes go through v1; nil logs nothing.
	Logger *zap.Logger
}

// Client is the live side of the reconciler.
type Client struct {
	clients platform.Clients
	v2      registryv2.Clients
	timeout time.Duration
	log     *zap.Logger
	// v1Only is set once the server answered Unimplemented to registry v2;
	// from then on this client writes with v1 read-modify-write.
	v1Only atomic.Bool
	// list and codec serve ListRepos (listcache.go).
	list  *listCache
	codec rawCodec
}

// CheckURL validates the API URL before it reaches the SDK, whose connection
// library panics on unknown schemes. It returns plaintext=true when the
// connection will not be encrypted; that is allowed only for loopback hosts
// or when insecure is set.
func CheckURL(raw string, insecure bool) (plaintext bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("parsing API URL: %w", err)
	}
	if u.Host == "" {
		return false, fmt.Errorf("API URL %q has no host", redact.URL(raw))
	}
	if u.User != nil {
		return false, fmt.Errorf("API URL %q must not carry credentials", redact.URL(raw))
	}
	switch u.Scheme {
	case "https":
		return false, nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return true, nil
		}
		return false, fmt.Errorf("API URL %q is plaintext http to a host that is not loopback; use https:// or pass --insecure", redact.URL(raw))
	default:
		return false, fmt.Errorf("API URL %q: scheme must be https or http", redact.URL(raw))
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Dial connects to the API. The connection is lazy: an unreachable API shows
// up as a retryable error on the first call, not here.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if _, err := CheckURL(cfg.URL, cfg.Insecure); err != nil {
		return nil, err
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var cred credentials.PerRPCCredentials
	if cfg.Tokens != nil {
		cred = perRPC{src: cfg.Tokens}
	}
	maxRecv := cfg.MaxReceiveBytes
	if maxRecv <= 0 {
		maxRecv = DefaultMaxReceiveBytes
	}
	// Tokens that change (a token file, workload identity) are JWTs, which
	// the redactor removes by their shape; a static token is known here.
	var secrets []string
	if t, ok := cfg.Tokens.(StaticToken); ok {
		secrets = append(secrets, strings.TrimPrefix(string(t), "Bearer "))
	}
	opts := []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)), grpc.WithChainUnaryInterceptor(errorInterceptor(redact.New(secrets...)), deadlineInterceptor(timeout), observeInterceptor(cfg.Observer, now))}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := platform.NewPlatformClients(dialCtx, cfg.URL, cred, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", redact.URL(cfg.URL), err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Client{
		clients: c,
		v2:      registryv2.NewClientsFromConnection(c.Connection()),
		timeout: timeout,
		log:     log,
		list:    newListCache(),
		codec:   newRawCodec(),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.clients.Close() }

// deadlineInterceptor gives every call a deadline, because the SDK's
// connection waits for a ready server and would otherwise hang forever on an
// unreachable API.
func deadlineInterceptor(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// errorInterceptor is the one place where every error of an API call passes
// on its way out of the transport: it is classified (a message over a size
// limit is marked ErrTooLarge) and redacted with internal/redact (a server
// or proxy that echoes the request must not put the token into our logs).
// The result still unwraps to the gRPC status, so Code and Retryable work.
func errorInterceptor(r *redact.Redactor) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return r.Error(classify(invoker(ctx, method, req, reply, cc, opts...)))
	}
}

func observeInterceptor(o Observer, now func() time.Time) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if o == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		start := now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		o.ObserveAPIRequest(MethodName(method), Code(err).String(), now().Sub(start).Seconds())
		return err
	}
}

// MethodName shortens a full gRPC method ("/chainguard.platform.registry.Registry/ListRepos")
// to a bounded metric label ("Registry.ListRepos").
func MethodName(full string) string {
	full = strings.TrimPrefix(full, "/")
	svc, m, ok := strings.Cut(full, "/")
	if !ok {
		return full
	}
	if i := strings.LastIndex(svc, "."); i >= 0 {
		svc = svc[i+1:]
	}
	return svc + "." + m
}
