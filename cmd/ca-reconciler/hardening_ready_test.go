package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

var listRepos = []string{registryv1.Registry_ListRepos_FullMethodName, registryv2.ReposService_ListRepos_FullMethodName}

// listCalls is the number of ListRepos calls, v1 and v2.
func (f *fixture) listCalls() int {
	n := 0
	for _, m := range listRepos {
		n += f.emu.Calls(m)
	}
	return n
}

// Issue 10, failure 4: --interval below its floor of 1s is a clear error at
// start (flag or environment), so a typo cannot list every repo hundreds of
// times a second; at the floor, each cycle lists the repos once.
func TestHardeningIntervalFloor(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--interval", "1ns"}, "", "Error: --interval 1ns is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{[]string{"--interval", "999ms"}, "", "Error: --interval 999ms is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{nil, "CA_RECONCILER_INTERVAL=1ns", "Error: --interval 1ns is below the minimum of 1s (each cycle lists every repo of the organization)\n"},
		{[]string{"--build-poll-interval", "10ms"}, "", "Error: --build-poll-interval 10ms is below the minimum of 1s\n"},
	} {
		env := childEnv()
		if tc.env != "" {
			env = append(env, tc.env)
		}
		c := runChild(t, env, append(append([]string{"run", "--listen", "127.0.0.1:0"}, f.daemonArgs()...), tc.args...)...)
		if code := c.exitCode(); code != 1 {
			t.Errorf("%v %s: exit %d, want 1", tc.args, tc.env, code)
		}
		if got := c.stderr.String(); got != tc.want {
			t.Errorf("%v %s: stderr %q, want %q", tc.args, tc.env, got, tc.want)
		}
	}
	if n := f.listCalls(); n != 0 {
		t.Errorf("refused configurations listed repos %d times", n)
	}

	// At the floor: one ListRepos per cycle.
	d := startServing(t, childEnv(), append([]string{"run", "--interval", "1s"}, f.daemonArgs()...)...)
	d.waitUntil("five cycles", time.Minute, func() bool { return d.cycles("") >= 5 })
	d.stop()
	cycles := d.stderr.count("reconcile finished", nil)
	if n := f.listCalls(); n < cycles || n > cycles+1 {
		t.Errorf("%d ListRepos calls in %d cycles, want one per cycle", n, cycles)
	}
}

// readyzSample is one answer of /readyz.
type readyzSample struct {
	code   int
	reason string
}

// pollReadyz reads /readyz every 100ms until stop returns true.
func (c *child) pollReadyz(stop func() bool) []readyzSample {
	var out []readyzSample
	for !stop() {
		body, code, err := c.get("/readyz", 5*time.Second)
		if err != nil {
			c.t.Fatalf("GET /readyz: %v", err)
		}
		out = append(out, readyzSample{code, strings.TrimSpace(body)})
		time.Sleep(100 * time.Millisecond)
	}
	return out
}

// Issue 10, failure 4: readiness follows the last finished cycle and names
// the dependency that fails. A slow but successful API (each ListRepos takes
// three times the interval; the case was 7s at 2s) keeps the daemon
// ready without flapping and never blames Git; an API that fails is named
// as such while Git is fine; a Git source that fails is named while the API
// is fine.
func TestHardeningReadiness(t *testing.T) {
	t.Run("slow API", func(t *testing.T) {
		f := newFixture(t)
		f.repo("a", overlay.Overlay{})
		f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
		for _, m := range listRepos {
			f.emu.InjectLatency(m, 3*time.Second)
		}
		d := startServing(t, childEnv(), append([]string{"run", "--interval", "1s"}, f.daemonArgs()...)...)
		d.waitUntil("the first cycle", time.Minute, func() bool { return d.cycles("") >= 1 })
		samples := d.pollReadyz(func() bool { return d.cycles("") >= 5 })
		d.stop()
		for _, s := range samples {
			if s.code != http.StatusOK || s.reason != "ready" {
				t.Errorf("/readyz answered %d %q during slow successful cycles", s.code, s.reason)
			}
		}
		if len(samples) < 40 {
			t.Errorf("only %d /readyz samples over four slow cycles", len(samples))
		}
		if n, cycles := f.listCalls(), d.stderr.count("reconcile finished", nil); n > cycles+1 {
			t.Errorf("%d ListRepos calls in %d cycles, want one per cycle", n, cycles)
		}
	})
	t.Run("API failing", func(t *testing.T) {
		f := newFixture(t)
		f.repo("a", overlay.Overlay{})
		f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
		for _, m := range listRepos {
			f.emu.InjectFault(m, codes.Unavailable, -1)
		}
		d := startServing(t, childEnv(), append([]string{"run", "--interval", "1s"}, f.daemonArgs()...)...)
		d.waitUntil("two failed cycles", time.Minute, func() bool { return d.cycles("") >= 2 })
		samples := d.pollReadyz(func() bool { return d.cycles("") >= 4 })
		d.stop()
		for _, s := range samples {
			if s.code != http.StatusServiceUnavailable || !strings.HasPrefix(s.reason, "the Chainguard API could not be read since start: ") || strings.Contains(s.reason, "Git") {
				t.Errorf("/readyz answered %d %q with the API failing and Git fine", s.code, s.reason)
			}
		}
	})
	t.Run("Git failing", func(t *testing.T) {
		f := newFixture(t)
		f.repo("a", overlay.Overlay{})
		args := []string{"--git-url", t.TempDir() + "/no-such-repo", "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(), "--log-format", "json"}
		d := startServing(t, childEnv(), append([]string{"run", "--interval", "1s"}, args...)...)
		d.waitUntil("two failed cycles", time.Minute, func() bool { return d.cycles("") >= 2 })
		samples := d.pollReadyz(func() bool { return d.cycles("") >= 4 })
		d.stop()
		for _, s := range samples {
			if s.code != http.StatusServiceUnavailable || !strings.HasPrefix(s.reason, "the Git source could not be read since start: ") {
				t.Errorf("/readyz answered %d %q with Git failing", s.code, s.reason)
			}
		}
	})
}

// No unbounded retries: a write the API keeps refusing with a transient
// error (Unavailable) is tried 1 + 3 times per cycle with backoff, the log
// says which attempt will be retried and when the cycle gives up, and the
// next cycle tries again from the start. (Before, the last attempt also
// said "will retry".)
func TestHardeningRetriesPerCycle(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	for _, m := range []string{registryv1.Registry_UpdateRepo_FullMethodName, registryv2.ReposService_UpdateRepo_FullMethodName} {
		f.emu.InjectFault(m, codes.Unavailable, -1)
	}
	d := startServing(t, childEnv(), append([]string{"run", "--interval", "1s"}, f.daemonArgs()...)...)
	d.waitUntil("three cycles", 2*time.Minute, func() bool { return d.cycles("") >= 3 })
	d.stop()
	cycles := d.stderr.count("reconcile finished", nil)
	if n := f.writes(); n != 4*cycles {
		t.Errorf("%d UpdateRepo calls in %d cycles, want 4 per cycle", n, cycles)
	}
	var retries, usedUp, failed int
	for _, l := range d.stderr.logLines() {
		switch l["msg"] {
		case "write failed, will retry":
			retries++
			if a, _ := l["attempt"].(float64); a < 1 || a > 3 {
				t.Errorf("attempt %v says it will be retried: %v", a, l)
			}
		case "write failed, retries used up; trying again next cycle":
			usedUp++
			if l["attempt"] != float64(4) {
				t.Errorf("retries used up at attempt %v, want 4: %v", l["attempt"], l)
			}
		case "write failed":
			failed++
			if l["attempts"] != float64(4) {
				t.Errorf("write failed after %v attempts, want 4: %v", l["attempts"], l)
			}
		}
	}
	if retries != 3*cycles || usedUp != cycles || failed != cycles {
		t.Errorf("in %d cycles: %d will-retry lines, %d used-up lines, %d write failed lines; want 3, 1 and 1 per cycle", cycles, retries, usedUp, failed)
	}
}
