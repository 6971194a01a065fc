// Package clock is the one time source of the daemon: the reconciler's loop,
// the build watcher and the trigger spacing read it, production passes Real
// and tests pass a settable clock, so that scheduling is tested by counting,
// never by sleeping.
package clock

import "time"

// Clock is the time the daemon sees.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// After fires once, d after now.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
