package testenv

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// Deliveries collects the results a delivery loop with retries (commit
// statuses, notifications) tells its Observe hook, and lets a test wait for
// the results of tries.
type Deliveries struct {
	tries []string
	mu    sync.Mutex
	all   []string
	ch    chan string
}

// NewDeliveries collects results; tries are the results that end a try
// (sent, retry, failed), those Wait counts.
func NewDeliveries(tries ...string) *Deliveries {
	return &Deliveries{tries: tries, ch: make(chan string, 1000)}
}

// Add records entry, the form All returns, for one observed result.
func (d *Deliveries) Add(entry, result string) {
	d.mu.Lock()
	d.all = append(d.all, entry)
	d.mu.Unlock()
	d.ch <- result
}

// Wait blocks until n more results of tries were observed (30 seconds at
// most). Other results, such as duplicates or drops, which the caller
// counts itself, are passed over.
func (d *Deliveries) Wait(t testing.TB, n int) {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for n > 0 {
		select {
		case r := <-d.ch:
			if slices.Contains(d.tries, r) {
				n--
			}
		case <-timeout.C:
			t.Fatalf("timed out waiting for %d more delivery results; have %v", n, d.All())
		}
	}
}

// All returns the entries added so far.
func (d *Deliveries) All() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.all...)
}

// RunUntilEnd runs run (a delivery loop's Run) in a goroutine with the
// test's context, and waits for it to return when the test ends and the
// context is cancelled.
func RunUntilEnd(t testing.TB, run func(ctx context.Context)) {
	t.Helper()
	done := make(chan struct{})
	ctx := t.Context()
	go func() {
		defer close(done)
		run(ctx)
	}()
	t.Cleanup(func() { <-done })
}
