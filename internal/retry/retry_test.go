package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/retry"
)

func TestDo(t *testing.T) {
	failure := errors.New("failure")
	fast := retry.Policy{Initial: time.Millisecond, Max: time.Millisecond, Retries: 3}
	for _, tc := range []struct {
		name      string
		failures  int // tries that fail before one succeeds
		permanent bool
		stopAfter int // stop reports true from this failure on (0: never)
		want      retry.Outcome
		retried   int
	}{
		{name: "first try", want: retry.Outcome{Tries: 1}},
		{name: "after retries", failures: 2, want: retry.Outcome{Tries: 3}, retried: 2},
		{name: "out of retries", failures: 10, want: retry.Outcome{Err: failure, Tries: 4}, retried: 3},
		{name: "permanent", failures: 10, permanent: true, want: retry.Outcome{Err: failure, Tries: 1}},
		{name: "stopped", failures: 10, stopAfter: 2, want: retry.Outcome{Err: failure, Tries: 2}, retried: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries, retried := 0, 0
			out := retry.Do(context.Background(), fast, func(context.Context) error {
				tries++
				switch {
				case tries > tc.failures:
					return nil
				case tc.permanent:
					return retry.Permanent(failure)
				}
				return failure
			}, func() bool { return tc.stopAfter > 0 && tries >= tc.stopAfter },
				func(err error, wait time.Duration) {
					retried++
					if !errors.Is(err, failure) || wait <= 0 {
						t.Errorf("retrying(%v, %v)", err, wait)
					}
				})
			if !errors.Is(out.Err, tc.want.Err) || out.Tries != tc.want.Tries || out.Interrupted || retried != tc.retried {
				t.Errorf("Do = %+v, %d retried; want %+v, %d retried", out, retried, tc.want, tc.retried)
			}
		})
	}
}

func TestDoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	slow := retry.Policy{Initial: time.Hour, Max: time.Hour, Retries: 3}
	out := retry.Do(ctx, slow, func(context.Context) error { return errors.New("failure") },
		func() bool { return false }, func(error, time.Duration) { cancel() })
	if !out.Interrupted || out.Tries != 1 || out.Err == nil {
		t.Errorf("Do = %+v, want interrupted after 1 try", out)
	}
}
