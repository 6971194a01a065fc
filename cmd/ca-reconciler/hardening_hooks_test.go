package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// hookDaemon is the daemon serving the push webhooks, with one repo in sync.
func hookDaemon(t *testing.T, extra ...string) (*fixture, *child) {
	t.Helper()
	f := newFixture(t)
	f.repo("a", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	secret := writeFile(t, t.TempDir(), "webhook", webhookSecret)
	d := startServing(t, childEnv(), append(append([]string{"run", "--interval", "1h", "--webhook-secret-file", secret}, f.daemonArgs()...), extra...)...)
	d.waitUntil("the first cycle", time.Minute, func() bool { return d.cycles("") >= 1 })
	return f, d
}

// attacker is one hostile client connection and when the server closed it.
type attacker struct {
	kind   string
	start  time.Time
	closed time.Time // zero while open
	status string    // the status line the server answered, if any
}

// attackKinds are the ways one connection can try to hold the daemon: a
// request's headers then its body one byte a second; the headers
// themselves one byte a second; one quick unauthenticated hook request,
// then the connection kept open (idle keep-alive).
var attackKinds = []string{"slow body", "slow headers", "idle after a request"}

// attack opens a connection to addr, plays kind on it until the server
// closes it or stop is closed, and reports.
func attack(addr, kind string, stop <-chan struct{}, done func(*attacker)) {
	a := &attacker{kind: kind, start: time.Now()}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		a.closed, a.status = time.Now(), "dial: "+err.Error()
		done(a)
		return
	}
	defer conn.Close()
	switch kind {
	case "slow body":
		fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\n", addr)
	case "slow headers":
		fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: %s\r\nX-Slow: ", addr)
	case "idle after a request":
		fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: %s\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 2\r\n\r\n{}", addr)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		r := bufio.NewReader(conn)
		line, err := r.ReadString('\n')
		if err == nil {
			a.status = strings.TrimSpace(line)
			for err == nil { // to the end: the server closes the connection
				_, err = r.ReadByte()
			}
		}
		a.closed = time.Now()
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-read:
			done(a)
			return
		case <-stop:
			done(a)
			return
		case <-tick.C:
			if kind != "idle after a request" {
				_, _ = conn.Write([]byte("x"))
			}
		}
	}
}

// Issue 10, failure 5, and the listener's cap: a flood of hostile
// connections to the hooks (300 of each attackKinds here, 900 in all: the
// issue's 3,000 slow-body connections scaled to the 2-core CI; the bound
// is the same, "all closed by the timeout") is closed by the daemon within
// its timeouts (the hooks' 10s body deadline, the server's 5s header and
// 15s read timeouts), its file descriptors go back to where they were, and
// /healthz and /metrics answer every probe throughout, each on a new
// connection as a kubelet's probe or a scrape after a restart opens.
func TestHardeningHookFlood(t *testing.T) {
	const each = 300
	const bound = 15*time.Second + 3*time.Second // the server's read timeout, plus slack for a loaded machine
	_, d := hookDaemon(t)
	baseFDs, baseRSS := d.fds(), d.peakRSS()

	stop := make(chan struct{})
	defer close(stop)
	var mu sync.Mutex
	var ended []*attacker
	var wg sync.WaitGroup
	for range each {
		for _, kind := range attackKinds {
			wg.Add(1)
			go attack(d.addr, kind, stop, func(a *attacker) {
				mu.Lock()
				ended = append(ended, a)
				mu.Unlock()
				wg.Done()
			})
		}
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	// Probes while the flood lasts: each must answer within 2s.
	var probes, failed int
	peakFDs := 0
	var failures []string
	floodStart := time.Now()
probe:
	for time.Since(floodStart) < bound+10*time.Second {
		select {
		case <-finished:
			break probe
		case <-time.After(250 * time.Millisecond):
		}
		peakFDs = max(peakFDs, d.fds())
		for _, p := range []string{"/healthz", "/metrics"} {
			probes++
			if _, code, err := d.get(p, 2*time.Second); err != nil || code != http.StatusOK {
				failed++
				if len(failures) < 5 {
					failures = append(failures, fmt.Sprintf("%s at %s: %d %v", p, time.Since(floodStart).Round(time.Millisecond), code, err))
				}
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d probes of /healthz and /metrics failed during the flood: %s", failed, probes, strings.Join(failures, "; "))
	}
	mu.Lock()
	total := len(attackKinds) * each
	var open, late int
	var longest time.Duration
	answers := map[string]int{}
	for _, a := range ended {
		if a.closed.IsZero() {
			open++
			continue
		}
		took := a.closed.Sub(a.start)
		answers[fmt.Sprintf("%s: %q closed after %ds", a.kind, a.status, int(took.Seconds()))]++
		if took > bound {
			late++
			longest = max(longest, took)
		}
	}
	mu.Unlock()
	if open > 0 || len(ended) != total {
		t.Errorf("%d of %d connections still open %s after the flood started", total-len(ended)+open, total, time.Since(floodStart).Round(time.Second))
	}
	if late > 0 {
		t.Errorf("%d connections closed later than %s (longest %s)", late, bound, longest)
	}
	t.Logf("answers: %v; peak FDs %d (baseline %d); peak RSS %d MiB (%d MiB before); %d probes", answers, peakFDs, baseFDs, d.peakRSS()>>20, baseRSS>>20, probes)
	time.Sleep(500 * time.Millisecond)
	if n := d.fds(); n > baseFDs+5 {
		t.Errorf("the daemon holds %d file descriptors after the flood, %d before", n, baseFDs)
	}
	// Every request that reached a hook is counted: the slow bodies as
	// timed out or busy, the quick ones as unauthorized or busy.
	counted := d.metric("ca_reconciler_webhook_requests_total")
	if counted != 2*each {
		t.Errorf("webhook requests counted %v, want %d", counted, 2*each)
	}
	d.stop()
}

// signedPush posts a GitHub push with body, signed with webhookSecret.
func signedPush(cl *http.Client, url, body, delivery string) (int, error) {
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
