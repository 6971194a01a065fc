package main

import (
	"bytes"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
)

// The intervals have a floor of 1s, with an error naming the flag, the
// value and the floor; 1s itself is accepted.
func TestIntervalFloor(t *testing.T) {
	base := []string{"run", "--git-url", ".", "--org", "x"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "1ns"}, "Error: --interval 1ns is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{[]string{"--interval", "999ms"}, "Error: --interval 999ms is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{[]string{"--interval", "0s"}, "Error: --interval 0s is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{[]string{"--build-poll-interval", "100ms"}, "Error: --build-poll-interval 100ms is below the minimum of 1s\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append(base, tc.args...), &stdout, &stderr, func(string) (string, bool) { return "", false })
		if code != 1 || stderr.String() != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	o := &options{gitURL: ".", org: "x", apiTimeout: 1, gitTimeout: 1, mode: "apply", interval: 1e9, buildTimeout: 1, buildPollInterval: 1e9, concurrency: 1, maxWrites: 1}
	if err := o.checkRun(); err != nil {
		t.Errorf("1s intervals: %v", err)
	}
}

// With hooks, the server takes gitsource's recommended timeouts (its
// handlers' body timeout must end before the server's read timeout), and
// never a shorter write timeout than its own.
func TestServerLimits(t *testing.T) {
	hooks := gitsource.WebhookServerTimeouts()
	for _, tc := range []struct {
		hooks bool
		want  metrics.Limits
	}{
		{false, metrics.DefaultLimits()},
		{true, func() metrics.Limits {
			l := metrics.DefaultLimits()
			l.ReadHeader, l.Read, l.Idle, l.Write = hooks.ReadHeader, hooks.Read, hooks.Idle, max(l.Write, hooks.Write)
			return l
		}()},
	} {
		if got := serverLimits(tc.hooks); got != tc.want {
			t.Errorf("serverLimits(%v) = %+v, want %+v", tc.hooks, got, tc.want)
		}
	}
	if l := serverLimits(true); l.Read <= gitsource.DefaultWebhookBodyTimeout {
		t.Errorf("the server's read timeout %v does not outlast the hooks' body timeout %v", l.Read, gitsource.DefaultWebhookBodyTimeout)
	}
}
