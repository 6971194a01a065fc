package gitsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// stragglerGrace is how long an operation gets, after its deadline, to notice
// the cancelled context before it is left running in the background.
const stragglerGrace = 250 * time.Millisecond

// timeoutError is a network operation that ran past Config.Timeout.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.after) }

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout makes the error look like a net.Error timeout.
func (e *timeoutError) Timeout() bool { return true }

// call is one Fetch: it holds the busy token and the secrets it read.
type call struct {
	src *Source
	// secrets removes the credentials this call read from what it reports.
	secrets *redact.Redactor
	// handedOff is set when an operation overran its deadline and was left
	// running; that operation releases busy when it ends, and the call must
	// not touch the cache any more.
	handedOff bool
}

// acquire takes the busy token, waiting at most Config.Timeout, because an
// operation left running after its deadline may hold it for much longer.
func (s *Source) acquire(ctx context.Context) (*call, error) {
	t := time.NewTimer(s.cfg.timeout)
	defer t.Stop()
	select {
	case s.busy <- struct{}{}:
		return &call{src: s}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another fetch of %s: %w", s.cfg.display, ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("waiting for another fetch of %s: an earlier operation is still running past its deadline: %w",
			s.cfg.display, &timeoutError{after: s.cfg.timeout})
	}
}

// release gives the busy token back, unless an operation left running owns it.
func (c *call) release() {
	if !c.handedOff {
		<-c.src.busy
	}
}

// network runs op with Config.Timeout. When op ignores its context past the
// deadline (go-git's SSH transport does while it connects), network returns
// anyway and leaves op running; op then releases busy when it returns.
func (c *call) network(ctx context.Context, op func(context.Context) error) error {
	s := c.src
	opCtx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	done := make(chan error, 1)
	go func() { done <- op(opCtx) }()
	select {
	case err := <-done:
		cancel()
		return s.deadlineError(ctx, opCtx, err)
	case <-opCtx.Done():
	}
	grace := time.NewTimer(stragglerGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		cancel()
		return s.deadlineError(ctx, opCtx, err)
	case <-grace.C:
	}
	c.handedOff = true
	s.log.Warn("network operation ignored its deadline; leaving it to end in the background",
		zap.Duration("timeout", s.cfg.timeout))
	go func() {
		<-done
		cancel()
		<-s.busy
		s.log.Info("network operation left in the background has ended")
	}()
	return s.deadlineError(ctx, opCtx, opCtx.Err())
}

// deadlineError replaces whatever op returned after its context ended by a
// clear cancellation or timeout error.
func (s *Source) deadlineError(parent, opCtx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(opCtx.Err(), context.DeadlineExceeded):
		return &timeoutError{after: s.cfg.timeout}
	}
	return err
}

// isTimeout reports a timed-out or cancelled operation.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
