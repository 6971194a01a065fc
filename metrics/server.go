package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
)

// Readiness reports whether the daemon is ready, and why not.
type Readiness func() (ready bool, reason string)

// ServerConfig wires the HTTP server.
type ServerConfig struct {
	// Addr to listen on, e.g. ":9090".
	Addr string
	// Gatherer is the daemon's own registry.
	Gatherer prometheus.Gatherer
	// Status returns the JSON-serialisable status snapshot.
	Status func() any
	// Ready backs /readyz.
	Ready Readiness
	// Handlers are extra routes (e.g. webhooks), by pattern.
	Handlers map[string]http.Handler
	// Pprof serves net/http/pprof's profiles under /debug/pprof/.
	Pprof  bool
	Logger *zap.Logger
	// Limits bound what one client can hold; zero fields take the
	// defaults (DefaultLimits()).
	Limits Limits
}

// Limits bound the cost of clients, in particular of unauthenticated ones
// on the webhook routes: a request must send its headers within
// ReadHeader and all of itself within Read, its answer must be written
// within Write, an idle keep-alive connection is closed after Idle, and at
// most MaxConns connections are open at once (more wait to be accepted).
type Limits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
	MaxConns                      int
}

// DefaultLimits are the server's limits: a slow client sending one byte a
// second is cut off after 15s, and 1,024 connections at most are served at
// once. They match gitsource.WebhookServerTimeouts (whose handlers stop
// reading a body after 10s, so the server's own cut-off comes later and the
// handler can count the request as timed out).
//
// The connection cap is the whole server's, and a connection's path is not
// known before its headers arrive, so it is sized for floods rather than
// for the hooks: the hooks cap themselves (gitsource serves at most 16 at a
// time and closes every hook connection with its answer), and the cap
// leaves room for /healthz, /readyz and /metrics beside a flood of hook
// connections, each of which holds a slot for at most the header timeout
// unless it is one of the hooks' 16. In cmd/ca-reconciler's
// TestHardeningHookFlood, 316 connections open at once raised the daemon's
// peak RSS by 16 MiB, about 50 KiB each, so the cap bounds that to about
// 50 MiB.
func DefaultLimits() Limits {
	return Limits{
		ReadHeader:     5 * time.Second,
		Read:           15 * time.Second,
		Write:          30 * time.Second,
		Idle:           60 * time.Second,
		MaxHeaderBytes: 64 << 10,
		MaxConns:       1024,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	return Limits{
		ReadHeader:     defaults.Or(l.ReadHeader, d.ReadHeader),
		Read:           defaults.Or(l.Read, d.Read),
		Write:          defaults.Or(l.Write, d.Write),
		Idle:           defaults.Or(l.Idle, d.Idle),
		MaxHeaderBytes: defaults.Or(l.MaxHeaderBytes, d.MaxHeaderBytes),
		MaxConns:       defaults.Or(l.MaxConns, d.MaxConns),
	}
}

// Server serves /metrics, /healthz, /readyz and /status.
type Server struct {
	srv *http.Server
	lis net.Listener
	log *zap.Logger
}

// NewMux returns the routes without listening, for tests.
func NewMux(cfg ServerConfig) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ready, reason := true, "ready"
		if cfg.Ready != nil {
			ready, reason = cfg.Ready()
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(reason + "\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		var v any
		if cfg.Status != nil {
			v = cfg.Status()
		}
		_ = enc.Encode(v)
	})
	for pattern, h := range cfg.Handlers {
		mux.Handle(pattern, h)
	}
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Listen binds the address; Serve then serves on it. Splitting the two lets
// a caller fail fast on a taken port and learn the chosen port of ":0".
func Listen(cfg ServerConfig) (*Server, error) {
	return ListenHandler(cfg.Addr, NewMux(cfg), cfg.Limits, cfg.Logger)
}

// ListenHandler binds addr to serve h alone, with the limits and timeouts
// of Listen: the hooks on an address of their own (--webhook-listen), so
// that a flood of hook connections cannot hold the connections the probes
// and scrapes need.
func ListenHandler(addr string, h http.Handler, limits Limits, log *zap.Logger) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := limits.withDefaults()
	return &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: l.ReadHeader,
			ReadTimeout:       l.Read,
			WriteTimeout:      l.Write,
			IdleTimeout:       l.Idle,
			MaxHeaderBytes:    l.MaxHeaderBytes,
		},
		lis: netutil.LimitListener(lis, l.MaxConns),
		log: log,
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
