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

// pushes posts n distinct valid GitHub pushes, one every gap, with at most
// par in flight, and returns how many were accepted and how long the burst
// took.
func pushes(t *testing.T, url string, n, par int, gap time.Duration, tag string) (accepted int, took time.Duration) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	codes := map[int]int{}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		time.Sleep(gap)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"ref":"refs/heads/main","after":"%s-%d"}`, tag, i)
			code, err := signedPush(cl, url, body, fmt.Sprintf("%s-%d", tag, i))
			if err != nil {
				code = -1
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took = time.Since(start)
	if codes[http.StatusAccepted]+codes[http.StatusServiceUnavailable] != n {
		t.Errorf("answers to %d valid pushes: %v, want 202 (or 503 when busy)", n, codes)
	}
	return codes[http.StatusAccepted], took
}

// Issue 10, failure 5: a burst of 500 valid pushes over 5 s (the issue's
// 8,038 in 10 s ran 1,551 cycles) runs at most one cycle per second of the
// burst, plus one trailing cycle; a push after a quiet period starts a
// cycle at once.
func TestHardeningPushBurst(t *testing.T) {
	_, d := hookDaemon(t)
	const n = 500
	accepted, took := pushes(t, d.url("/hooks/github"), n, 8, 10*time.Millisecond, "burst")
	if accepted < n/2 {
		t.Errorf("only %d of %d valid pushes accepted", accepted, n)
	}
	// The trailing cycle comes at most a second after the last triggered
	// one started; wait until the cycles stop.
	var cycles float64
	for last := -1.0; ; last = cycles {
		time.Sleep(2500 * time.Millisecond)
		if cycles = d.cycles("webhook"); cycles == last {
			break
		}
	}
	// One cycle per started second of the burst, plus the trailing one.
	bound := float64(int(took/time.Second) + 2)
	if cycles < 1 || cycles > bound {
		t.Errorf("%d accepted pushes in %s ran %v webhook-triggered cycles, want between 1 and %v", accepted, took.Round(time.Millisecond), cycles, bound)
	}
	t.Logf("%d of %d pushes accepted in %s; %v cycles", accepted, n, took.Round(time.Millisecond), cycles)

	// After a quiet period, one push starts one cycle at once.
	before := d.cycles("webhook")
	if code, err := signedPush(http.DefaultClient, d.url("/hooks/github"), `{"after":"single"}`, "single"); err != nil || code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, err)
	}
	d.waitUntil("the push's cycle", 30*time.Second, func() bool { return d.cycles("webhook") == before+1 })
	time.Sleep(1500 * time.Millisecond)
	if got := d.cycles("webhook"); got != before+1 {
		t.Errorf("one push ran %v cycles, want 1", got-before)
	}
	d.stop()
}

// Issue 10, failure 5: refused requests (2,000 with a wrong signature, one
// every millisecond or so; the 18,394 lines came from two bursts of
// such) log nothing at info and
// at most one line a second at debug, each with the number suppressed since
// the last; every one is counted.
func TestHardeningRefusedLogVolume(t *testing.T) {
	const n = 2_000
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			_, d := hookDaemon(t, "--log-level", level)
			logBefore := d.stderr.Len()
			cl := &http.Client{Timeout: 10 * time.Second}
			start := time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := range n {
				time.Sleep(time.Millisecond)
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					req, _ := http.NewRequest(http.MethodPost, d.url("/hooks/github"), strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
					req.Header.Set("X-Hub-Signature-256", "sha256=0000")
					if resp, err := cl.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			counted := d.metric("ca_reconciler_webhook_requests_total", `provider="github"`)
			d.stop()
			if counted != n {
				t.Errorf("counted %v requests, want %d", counted, n)
			}
			var lines, suppressed int
			for _, l := range d.stderr.logLines() {
				if l["msg"] == "webhook" && l["result"] != "accepted" {
					lines++
					s, _ := l["suppressed"].(float64)
					suppressed += int(s)
				}
			}
			switch level {
			case "info":
				if lines != 0 {
					t.Errorf("%d lines at info for refused requests, want none", lines)
				}
				if grew := d.stderr.Len() - logBefore; grew > 4<<10 {
					t.Errorf("the log grew by %d bytes over %d refused requests at info", grew, n)
				}
			case "debug":
				bound := int(took/time.Second) + 2
				if lines < 1 || lines > bound || lines+suppressed > n {
					t.Errorf("%d debug lines (%d more suppressed) for %d refused requests in %s, want 1 to %d lines", lines, suppressed, n, took.Round(time.Millisecond), bound)
				}
				t.Logf("%d refused requests in %s: %d lines, %d suppressed", n, took.Round(time.Millisecond), lines, suppressed)
			}
		})
	}
}

// Issue 10, failure 5: a captured valid delivery replayed (as is, with a new
// delivery id, or a redelivery with its id kept) is answered 200 and
// triggers nothing; so is a GitLab event replayed by its event UUID.
func TestHardeningReplays(t *testing.T) {
	_, d := hookDaemon(t)
	before := d.cycles("webhook")
	const body = `{"ref":"refs/heads/main","after":"0123abcd"}`
	hook := d.url("/hooks/github")
	for i, tc := range []struct {
		body, delivery string
		want           int
	}{
		{body, "delivery-1", http.StatusAccepted},
		{body, "delivery-1", http.StatusOK},                     // replayed as captured
		{body, "delivery-2", http.StatusOK},                     // the same signed body, a new id
		{body + " ", "delivery-1", http.StatusOK},               // a redelivery keeps its id
		{`{"after":"fedc"}`, "delivery-3", http.StatusAccepted}, // a new push
	} {
		for range 20 {
			code, err := signedPush(http.DefaultClient, hook, tc.body, tc.delivery)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.want && !(tc.want == http.StatusAccepted && code == http.StatusOK) {
				t.Errorf("case %d: answered %d, want %d", i, code, tc.want)
			}
		}
	}
	gitlab := func(uuid string) int {
		req, _ := http.NewRequest(http.MethodPost, d.url("/hooks/gitlab"), strings.NewReader(`{}`))
		req.Header.Set("X-Gitlab-Token", webhookSecret)
		req.Header.Set("X-Gitlab-Event-UUID", uuid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := gitlab("uuid-1"); code != http.StatusAccepted {
		t.Errorf("GitLab event: %d, want 202", code)
	}
	for range 20 {
		if code := gitlab("uuid-1"); code != http.StatusOK {
			t.Errorf("GitLab event replayed: %d, want 200", code)
		}
	}
	// Three deliveries were accepted (GitHub 1 and 3, GitLab 1); the
	// replays triggered nothing.
	accepted := d.metric("ca_reconciler_webhook_requests_total", `result="accepted"`)
	replayed := d.metric("ca_reconciler_webhook_requests_total", `result="replayed"`)
	if accepted != 3 || replayed != 5*20-2+20 {
		t.Errorf("accepted %v, replayed %v; want 3 and %d", accepted, replayed, 5*20-2+20)
	}
	time.Sleep(2500 * time.Millisecond) // any trailing cycle
	if cycles := d.cycles("webhook") - before; cycles < 1 || cycles > 3 {
		t.Errorf("%v webhook-triggered cycles, want 1 to 3 (one per accepted delivery at most)", cycles)
	}
	d.stop()
}
