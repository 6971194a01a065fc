// Package retry is the one retry loop of what the daemon delivers in the
// background, commit statuses and notifications: exponential back-off with
// jitter between tries, no retry of a permanent failure, and a bound on
// the retries.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy says how a failed delivery is retried.
type Policy struct {
	// Initial is the first wait, doubling with jitter up to Max.
	Initial, Max time.Duration
	// Retries is how many times a failure is retried at most.
	Retries int
}

// Outcome is how a delivery ended.
type Outcome struct {
	// Err is the last failure; nil when the delivery succeeded.
	Err error
	// Tries counts the calls of the delivery.
	Tries int
	// Interrupted is set when the context ended during a wait: the
	// delivery neither succeeded nor was given up.
	Interrupted bool
}

// Do calls try until it succeeds or is given up: after a failure marked
// Permanent, after p.Retries retries, or when stop reports true after a
// failure. Before each wait it tells retrying the failure and the wait.
func Do(ctx context.Context, p Policy, try func(context.Context) error, stop func() bool, retrying func(err error, wait time.Duration)) Outcome {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.Initial
	b.MaxInterval = p.Max
	b.MaxElapsedTime = 0
	b.Reset()
	for attempt := 0; ; attempt++ {
		err := try(ctx)
		if err == nil {
			return Outcome{Tries: attempt + 1}
		}
		var perm permanentError
		if errors.As(err, &perm) || attempt >= p.Retries || stop() {
			return Outcome{Err: err, Tries: attempt + 1}
		}
		wait := b.NextBackOff()
		retrying(err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Outcome{Err: err, Tries: attempt + 1, Interrupted: true}
		case <-t.C:
		}
	}
}

// Permanent marks err as a failure that retrying cannot fix; Do gives up
// at once. Its message and errors.Is and As see err.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }
