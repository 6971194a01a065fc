package defaults_test

import (
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
)

func TestPositive(t *testing.T) {
	for _, c := range []struct {
		in, want time.Duration
	}{
		{0, time.Second},
		{-time.Minute, time.Second},
		{time.Millisecond, time.Millisecond},
	} {
		got := c.in
		defaults.Positive(&got, time.Second)
		if got != c.want {
			t.Errorf("Positive(%v) = %v, want %v", c.in, got, c.want)
		}
		if got := defaults.Or(c.in, time.Second); got != c.want {
			t.Errorf("Or(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	n := 0
	defaults.Positive(&n, 4)
	if n != 4 {
		t.Errorf("Positive(0) on an int = %d, want 4", n)
	}
}
