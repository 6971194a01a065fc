package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// hookDaemon is the daemon serving the push webhooks and Chainguard's
// events (verified against the emulator's issuer), with one repo in sync.
func hookDaemon(t *testing.T, extra ...string) (*fixture, *child) {
	t.Helper()
	f := newFixture(t)
	f.repo("a", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})
	secret := writeFile(t, t.TempDir(), "webhook", webhookSecret)
	args := []string{"run", "--interval", "1h", "--webhook-secret-file", secret, "--chainguard-events", "--issuer", f.emu.IssuerURL()}
	d := startServing(t, childEnv(), append(append(args, f.daemonArgs()...), extra...)...)
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

// hookPaths are the hooks a flood goes to: a push webhook and Chainguard's
// events.
var hookPaths = []string{"/hooks/github", "/hooks/chainguard"}

// attack opens a connection to addr, plays kind on it against path until
// the server closes it or stop is closed, and reports. Its requests carry
// what gets them to the body: a signature and a bearer token, both wrong.
func attack(addr, path, kind string, stop <-chan struct{}, done func(*attacker)) {
	a := &attacker{kind: kind, start: time.Now()}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		a.closed, a.status = time.Now(), "dial: "+err.Error()
		done(a)
		return
	}
	defer conn.Close()
	const headers = "Content-Type: application/json\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\nAuthorization: Bearer x\r\nCe-Specversion: 1.0\r\nCe-Id: 1\r\nCe-Type: t\r\nCe-Source: s\r\n"
	switch kind {
	case "slow body":
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: 1000\r\n\r\n", path, addr, headers)
	case "slow headers":
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nX-Slow: ", path, addr)
	case "idle after a request":
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: 2\r\n\r\n{}", path, addr, headers)
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
// connections to the hooks (300 of each attackKinds here, 900 in all, half
// to the push webhooks and half to Chainguard's events: the
// issue's 3,000 slow-body connections scaled to the 2-core CI; the bound
// is the same, "all closed by the timeout") is closed by the daemon within
// its timeouts (the hooks' 10s body deadline, the server's 5s header and
// 15s read timeouts), its file descriptors go back to where they were, and
// /healthz and /metrics answer every probe throughout, each on a new
// connection as a kubelet's probe or a scrape after a restart opens.
func TestHardeningHookFlood(t *testing.T) {
	skipFloodIfShort(t)
	hookFlood(t, 300, false)
}

// The issue's own number, 3,000 slow connections (1,000 of each
// attackKinds), against hooks served on --webhook-listen: the hooks'
// connection cap is reached and what waits past it is closed by the same
// timeouts, while /healthz and /metrics, on --listen, answer every probe.
// (On one shared listener a flood past the cap also holds back probes: the
// README says to give public hooks their own address.)
func TestHardeningHookFloodOwnListener(t *testing.T) {
	skipFloodIfShort(t)
	hookFlood(t, 1000, true)
}

// hookFlood opens each connections of every attackKinds to the hooks, on
// --listen or, with own, on --webhook-listen, and checks what the tests
// above say.
func hookFlood(t *testing.T, each int, own bool) {
	t.Helper()
	const bound = 15*time.Second + 3*time.Second // the server's read timeout, plus slack for a loaded machine
	var extra []string
	if own {
		extra = []string{"--webhook-listen", "127.0.0.1:0"}
	}
	_, d := hookDaemon(t, extra...)
	hookAddr := d.addr
	if own {
		hookAddr = d.logged("serving hooks", "addr")
		if hookAddr == "" || hookAddr == d.addr {
			t.Fatalf("hooks served at %q, want an address of their own (--listen %s)", hookAddr, d.addr)
		}
	}
	baseFDs, baseRSS, baseGoroutines := d.fds(), d.peakRSS(), d.metric("go_goroutines")

	stop := make(chan struct{})
	defer close(stop)
	var mu sync.Mutex
	var ended []*attacker
	var wg sync.WaitGroup
	for i := range each {
		for _, kind := range attackKinds {
			wg.Add(1)
			go attack(hookAddr, hookPaths[i%len(hookPaths)], kind, stop, func(a *attacker) {
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
	peakFDs, peakGoroutines := 0, 0.0
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
			body, code, err := d.get(p, 2*time.Second)
			if p == "/metrics" && code == http.StatusOK {
				peakGoroutines = max(peakGoroutines, sampleSum(body, "go_goroutines"))
			}
			if err != nil || code != http.StatusOK {
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
	t.Logf("answers: %v; peak FDs %d (baseline %d), peak goroutines %v (baseline %v); peak RSS %d MiB (%d MiB before); %d probes",
		answers, peakFDs, baseFDs, peakGoroutines, baseGoroutines, d.peakRSS()>>20, baseRSS>>20, probes)
	time.Sleep(500 * time.Millisecond)
	if n := d.fds(); n > baseFDs+5 {
		t.Errorf("the daemon holds %d file descriptors after the flood, %d before", n, baseFDs)
	}
	if n := d.metric("go_goroutines"); n > baseGoroutines+10 {
		t.Errorf("the daemon runs %v goroutines after the flood, %v before", n, baseGoroutines)
	}
	// Every request that reached a hook is counted: the slow bodies as
	// timed out or busy, the quick ones as unauthorized or busy.
	counted := d.metric("ca_reconciler_webhook_requests_total") + d.metric("ca_reconciler_chainguard_events_total")
	if counted != float64(2*each) {
		t.Errorf("hook requests counted %v, want %d", counted, 2*each)
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
	skipFloodIfShort(t)
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
	skipFloodIfShort(t)
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
		return testenv.Status(t, req)
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

// skipFloodIfShort skips a flood test under -short: each takes 10 to 20 s of
// the machine's two cores.
func skipFloodIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a flood test; skipped with -short")
	}
}

// capturingProxy forwards every request to target and keeps a copy of each.
type capturingProxy struct {
	target string
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
}

func (p *capturingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.got = append(p.got, r.Clone(r.Context()))
	p.bodies = append(p.bodies, body)
	p.mu.Unlock()
	req, _ := http.NewRequest(r.Method, p.target, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}

// replay sends captured request i again to url, with header changes.
func (p *capturingProxy) replay(t *testing.T, url string, i int, set map[string]string) int {
	t.Helper()
	p.mu.Lock()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(p.bodies[i]))
	req.Header = p.got[i].Header.Clone()
	p.mu.Unlock()
	for k, v := range set {
		req.Header.Set(k, v)
	}
	return testenv.Status(t, req)
}

// Issue 10, failure 5, for Chainguard's events: a delivery captured on its
// way (by a logging proxy here) and sent again, as is or with a new event
// id, is answered 200 and triggers nothing: the Console edit it announced is
// corrected once.
func TestHardeningChainguardEventReplay(t *testing.T) {
	f, d := hookDaemon(t)
	proxy := &capturingProxy{target: d.url("/hooks/chainguard")}
	sink := httptest.NewServer(proxy)
	t.Cleanup(sink.Close)
	f.subscribe(sink.URL)
	if err := f.emu.ConsoleEdit(f.repoID("a"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "jq"}})); err != nil {
		t.Fatal(err)
	}
	d.waitUntil("the correction", 30*time.Second, func() bool { return f.writes() >= 1 })
	d.waitUntil("the correction's own event", 30*time.Second, func() bool {
		return d.metric("ca_reconciler_chainguard_events_total") >= 2
	})
	time.Sleep(1500 * time.Millisecond) // any trailing cycle
	cyclesBefore, writesBefore := d.cycles(""), f.writes()
	for range 50 {
		if code := proxy.replay(t, d.url("/hooks/chainguard"), 0, nil); code != http.StatusOK {
			t.Errorf("replay answered %d, want 200", code)
		}
	}
	for i := range 20 {
		if code := proxy.replay(t, d.url("/hooks/chainguard"), 0, map[string]string{"Ce-Id": fmt.Sprint("forged-", i)}); code != http.StatusOK {
			t.Errorf("replay with a new id answered %d, want 200", code)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if got := d.metric("ca_reconciler_chainguard_events_total", `result="replayed"`); got != 70 {
		t.Errorf("replayed = %v, want 70", got)
	}
	if c, w := d.cycles("")-cyclesBefore, f.writes()-writesBefore; c != 0 || w != 0 {
		t.Errorf("the replays ran %v cycles and %d writes, want none", c, w)
	}
	d.stop()
}

// --webhook-listen with no hook enabled is refused at start, naming the
// flag; without it the hooks stay on --listen.
func TestWebhookListenNeedsAHook(t *testing.T) {
	if _, err := listenHooks("127.0.0.1:0", nil, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "--webhook-listen: no hook is enabled") {
		t.Errorf("--webhook-listen without hooks: %v, want an error naming the flag", err)
	}
	srv, err := listenHooks("", map[string]http.Handler{"/hooks/generic": http.NotFoundHandler()}, zap.NewNop())
	if srv != nil || err != nil {
		t.Errorf("no --webhook-listen: %v, %v, want nil, nil (the hooks stay on --listen)", srv, err)
	}
	// run binds --listen first: --webhook-listen on its address fails
	// naming --webhook-listen.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	if srv, err := listenHooks(addr, map[string]http.Handler{"/hooks/generic": http.NotFoundHandler()}, zap.NewNop()); err == nil || !strings.HasPrefix(err.Error(), "--webhook-listen "+addr+": ") {
		if srv != nil {
			_ = srv.Shutdown(t.Context())
		}
		t.Errorf("--webhook-listen on a taken address: %v, want an error naming the flag and the address", err)
	}
}
