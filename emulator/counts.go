package emulator

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// counter counts calls by full method name and status code.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounter() *counter { return &counter{m: map[string]int{}} }

// countInterceptor is the outermost interceptor: every call is counted,
// including those refused by authentication or injected faults.
func (s *Server) countInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	key := info.FullMethod + " " + status.Code(err).String()
	s.counts.mu.Lock()
	s.counts.m[key]++
	s.counts.mu.Unlock()
	return resp, err
}

// Counts returns the number of calls so far keyed by "METHOD CODE", for
// example "/chainguard.platform.registry.Registry/UpdateRepo OK".
func (s *Server) Counts() map[string]int {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	out := make(map[string]int, len(s.counts.m))
	for k, v := range s.counts.m {
		out[k] = v
	}
	return out
}

// Calls returns the number of calls of a full method name, all codes
// together.
func (s *Server) Calls(method string) int {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	n := 0
	for k, v := range s.counts.m {
		if len(k) > len(method) && k[:len(method)] == method && k[len(method)] == ' ' {
			n += v
		}
	}
	return n
}

// ResetCounts sets every count back to zero.
func (s *Server) ResetCounts() {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	s.counts.m = map[string]int{}
}

// WriteCounts writes one line "METHOD CODE COUNT" per counted method and
// code, sorted.
func (s *Server) WriteCounts(w io.Writer) error {
	counts := s.Counts()
	keys := slices.Sorted(maps.Keys(counts))
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s %d\n", k, counts[k]); err != nil {
			return fmt.Errorf("writing request counts: %w", err)
		}
	}
	return nil
}

// CountsHandler serves WriteCounts as text/plain.
func (s *Server) CountsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = s.WriteCounts(w)
	})
}
