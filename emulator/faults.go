package emulator

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faults holds the failures and latencies tests inject.
type faults struct {
	mu      sync.Mutex
	pending map[string][]fault       // by full method name, first one applies
	latency map[string]time.Duration // by full method name; "" is every method
	base    time.Duration            // Options.Latency: every call, always
}

// fault fails the next n calls with code; n < 0 fails every call.
type fault struct {
	code codes.Code
	n    int
}

func newFaults() *faults {
	return &faults{pending: map[string][]fault{}, latency: map[string]time.Duration{}}
}

// InjectFault makes the next n calls of a full method name (for example
// "/chainguard.platform.registry.Registry/UpdateRepo") fail with code and
// the message "injected fault". A negative n fails every call until
// ClearFaults. Faults injected for one method queue up in order.
func (s *Server) InjectFault(method string, code codes.Code, n int) {
	if n == 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.pending[method] = append(s.faults.pending[method], fault{code: code, n: n})
}

// InjectLatency delays every call of a full method name by d before it is
// handled (or before its injected fault); method "" delays every call. A d
// of zero removes the delay. A call whose context ends first fails with the
// context's code.
func (s *Server) InjectLatency(method string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.latency, method)
		return
	}
	s.faults.latency[method] = d
}

// SetLatency sets the fixed delay of every call (Options.Latency), which
// ClearFaults leaves alone. Zero removes it.
func (s *Server) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.base = max(d, 0)
}

// ClearFaults removes every injected fault and latency (not SetLatency's).
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.pending = map[string][]fault{}
	s.faults.latency = map[string]time.Duration{}
}

// take returns the delay and the fault, if any, for one call of method.
func (f *faults) take(method string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delay := f.base + f.latency[""] + f.latency[method]
	q := f.pending[method]
	if len(q) == 0 {
		return delay, nil
	}
	code := q[0].code
	if q[0].n > 0 {
		q[0].n--
		if q[0].n == 0 {
			q = q[1:]
		}
	}
	if len(q) == 0 {
		delete(f.pending, method)
	} else {
		f.pending[method] = q
	}
	return delay, status.Error(code, "injected fault")
}

// faultInterceptor applies injected latency, then injected faults.
func (s *Server) faultInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	delay, err := s.faults.take(info.FullMethod)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}
