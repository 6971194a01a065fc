package reconciler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// stepClock is a clock the test moves. Every After call is handed to the
// test (afters) before it returns, so the test knows exactly when Run has
// finished a cycle and is about to wait: no sleeps.
type stepClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []stepWaiter
	afters  chan time.Duration
}

type stepWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waiters = append(c.waiters, stepWaiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.afters <- d
	return ch
}

// Advance moves the time and fires every After that is due.
func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// TestRunSpacesTriggeredCycles drives Run with a stepped clock: a push
// after a quiet period starts a cycle at once; a burst of 500 pushes within
// the spacing shares one trailing cycle a second after the previous one
// started; the interval cycle still comes on time.
func TestRunSpacesTriggeredCycles(t *testing.T) {
	w := newWorld(t)
	w.customRepo("a", mustParse(t, fileA))
	w.git.commit(map[string]string{"ca-images-iac/a.yaml": fileA})
	clock := &stepClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), afters: make(chan time.Duration)}
	m := metrics.New(prometheus.NewRegistry(), "test")
	r := reconciler.New(reconciler.Config{Org: "acme.example", Dir: "ca-images-iac", Interval: time.Minute, TriggerSpacing: time.Second},
		w.source(), w.client, zaptest.NewLogger(t), m, reconciler.WithClock(clock))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		// Run may be handing one more After to the test.
		for {
			select {
			case <-clock.afters:
			case <-done:
				return
			}
		}
	}()
	cycles := func(tr vocab.Trigger) int {
		n := 0.0
		for _, res := range vocab.CycleResults() {
			n += testutil.ToFloat64(m.Reconciles.WithLabelValues(string(tr), string(res)))
		}
		return int(n)
	}
	wait := func(want time.Duration, what string) {
		t.Helper()
		if got := <-clock.afters; got != want {
			t.Fatalf("%s: Run waits %v, want %v", what, got, want)
		}
	}

	wait(time.Minute, "after the start cycle")
	if cycles(vocab.TriggerStart) != 1 {
		t.Fatalf("start cycles = %d", cycles(vocab.TriggerStart))
	}

	// The first push starts a cycle at once.
	r.Trigger(vocab.TriggerWebhook)
	wait(time.Minute, "after the first push's cycle")
	if got := cycles(vocab.TriggerWebhook); got != 1 {
		t.Fatalf("webhook cycles after one push = %d, want 1", got)
	}

	// 500 pushes in the same instant: one trailing cycle, a second after
	// the previous one started. Each push makes Run wait again, for the
	// rest of the second; none starts a cycle.
	for i := range 500 {
		r.Trigger(vocab.TriggerWebhook)
		wait(time.Second, fmt.Sprintf("after the burst's push %d", i))
	}
	clock.Advance(999 * time.Millisecond)
	if got := cycles(vocab.TriggerWebhook); got != 1 {
		t.Fatalf("webhook cycles during the burst = %d, want still 1", got)
	}
	clock.Advance(time.Millisecond)
	wait(time.Minute, "after the trailing cycle")
	if got := cycles(vocab.TriggerWebhook); got != 2 {
		t.Fatalf("webhook cycles after a burst of 500 = %d, want 2", got)
	}

	// Quiet for 5s, then a push: at once.
	clock.Advance(5 * time.Second)
	r.Trigger(vocab.TriggerWebhook)
	wait(time.Minute, "after a push that followed a quiet period")
	if got := cycles(vocab.TriggerWebhook); got != 3 {
		t.Fatalf("webhook cycles = %d, want 3", got)
	}

	// The interval cycle comes on time, and nothing else runs.
	clock.Advance(time.Minute)
	wait(time.Minute, "after the interval cycle")
	if got := [3]int{cycles(vocab.TriggerStart), cycles(vocab.TriggerWebhook), cycles(vocab.TriggerInterval)}; got != [3]int{1, 3, 1} {
		t.Errorf("cycles start/webhook/interval = %v, want [1 3 1]", got)
	}
	if got := w.live("a"); !overlay.Equal(got, mustParse(t, fileA)) {
		t.Errorf("repo changed: %+v", got)
	}
}
