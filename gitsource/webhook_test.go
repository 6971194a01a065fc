package gitsource_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const hookSecret = "whsec-0123456789-never-print"

func sign(body string, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type counts struct {
	mu       sync.Mutex
	observed map[string]int
	triggers int
}

func TestWebhooks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &counts{observed: map[string]int{}}
	core, logs := observer.New(zap.DebugLevel)
	mux := http.NewServeMux()
	for path, h := range gitsource.WebhookHandlers(gitsource.WebhookConfig{
		SecretFile: file,
		Trigger:    func(vocab.Trigger) { c.mu.Lock(); c.triggers++; c.mu.Unlock() },
		Observe: func(p vocab.WebhookProvider, r vocab.WebhookResult) {
			c.mu.Lock()
			c.observed[string(p)+" "+string(r)]++
			c.mu.Unlock()
		},
		Logger: zap.New(core),
	}) {
		mux.Handle(path, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"ref":"refs/heads/main","after":"abc"}`
	big := strings.Repeat("x", gitsource.MaxWebhookBody+1)
	for _, tc := range []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		triggers                 int
		observed                 string
	}{
		{"github push", "POST", "/hooks/github", body, map[string]string{"X-Hub-Signature-256": sign(body, hookSecret), "X-GitHub-Event": "push"}, 202, 1, "github accepted"},
		{"github ping", "POST", "/hooks/github", body, map[string]string{"X-Hub-Signature-256": sign(body, hookSecret), "X-GitHub-Event": "ping"}, 200, 0, "github ping"},
		{"github unsigned ping", "POST", "/hooks/github", body, map[string]string{"X-GitHub-Event": "ping"}, 401, 0, "github unauthorized"},
		{"github wrong secret", "POST", "/hooks/github", body, map[string]string{"X-Hub-Signature-256": sign(body, "other")}, 401, 0, "github unauthorized"},
		{"github body changed", "POST", "/hooks/github", body + " ", map[string]string{"X-Hub-Signature-256": sign(body, hookSecret)}, 401, 0, "github unauthorized"},
		{"github sha1 only", "POST", "/hooks/github", body, map[string]string{"X-Hub-Signature": "sha1=00"}, 401, 0, "github unauthorized"},
		{"github GET", "GET", "/hooks/github", "", nil, 405, 0, "github bad_method"},
		{"github too large", "POST", "/hooks/github", big, map[string]string{"X-Hub-Signature-256": sign(big, hookSecret)}, 413, 0, "github too_large"},
		{"gitlab push", "POST", "/hooks/gitlab", body, map[string]string{"X-Gitlab-Token": hookSecret}, 202, 1, "gitlab accepted"},
		{"gitlab wrong token", "POST", "/hooks/gitlab", body, map[string]string{"X-Gitlab-Token": hookSecret + "x"}, 401, 0, "gitlab unauthorized"},
		{"gitlab no token", "POST", "/hooks/gitlab", body, nil, 401, 0, "gitlab unauthorized"},
		{"generic", "POST", "/hooks/generic", body, map[string]string{"X-Signature-256": sign(body, hookSecret)}, 202, 1, "generic accepted"},
		{"generic bad hex", "POST", "/hooks/generic", body, map[string]string{"X-Signature-256": "sha256=zz"}, 401, 0, "generic unauthorized"},
		{"generic PUT", "PUT", "/hooks/generic", body, nil, 405, 0, "generic bad_method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.mu.Lock()
			c.triggers, c.observed = 0, map[string]int{}
			c.mu.Unlock()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, out, tc.status)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.triggers != tc.triggers || c.observed[tc.observed] != 1 || len(c.observed) != 1 {
				t.Errorf("triggers %d observed %v, want %d and %q", c.triggers, c.observed, tc.triggers, tc.observed)
			}
			if strings.Contains(string(out), hookSecret) {
				t.Errorf("response contains the secret")
			}
		})
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, hookSecret) {
			t.Errorf("log message contains the secret")
		}
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, hookSecret) {
				t.Errorf("log field contains the secret")
			}
		}
	}
}

// hookServer serves the hooks with counters, a fake clock and observed logs.
type hookServer struct {
	*httptest.Server
	c     *counts
	clock *clockwork.FakeClock
	logs  *observer.ObservedLogs
}

func newHookServer(t *testing.T, cfg gitsource.WebhookConfig) *hookServer {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hookServer{c: &counts{observed: map[string]int{}}, clock: clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	cfg.SecretFile, cfg.Clock, cfg.Logger = file, h.clock, zap.New(core)
	cfg.Trigger = func(vocab.Trigger) { h.c.mu.Lock(); h.c.triggers++; h.c.mu.Unlock() }
	cfg.Observe = func(p vocab.WebhookProvider, r vocab.WebhookResult) {
		h.c.mu.Lock()
		h.c.observed[string(p)+" "+string(r)]++
		h.c.mu.Unlock()
	}
	mux := http.NewServeMux()
	for path, handler := range gitsource.WebhookHandlers(cfg) {
		mux.Handle(path, handler)
	}
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return h
}

// post sends a hook and returns the status.
func (h *hookServer) post(t *testing.T, path, body string, headers map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return testenv.Status(t, req)
}

func (h *hookServer) snapshot() (int, map[string]int) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.c.observed {
		out[k] = v
	}
	return h.c.triggers, out
}

// TestWebhookReplays: a delivery that comes again within the window is
// answered 200 and triggers nothing; GitHub's is recognised by its delivery
// id and by its signed body (the id header is not signed), GitLab's by its
// event id; generic hooks are not checked.
func TestWebhookReplays(t *testing.T) {
	h := newHookServer(t, gitsource.WebhookConfig{ReplayWindow: time.Hour})
	gh := func(body, id string) map[string]string {
		return map[string]string{"X-Hub-Signature-256": sign(body, hookSecret), "X-GitHub-Event": "push", "X-GitHub-Delivery": id}
	}
	gl := func(id string) map[string]string {
		return map[string]string{"X-Gitlab-Token": hookSecret, "X-Gitlab-Event-UUID": id}
	}
	first, second := `{"after":"a1"}`, `{"after":"b2"}`
	steps := []struct {
		name, path, body string
		headers          map[string]string
		advance          time.Duration
		status           int
	}{
		{"github delivery", "/hooks/github", first, gh(first, "d-1"), 0, 202},
		{"github same delivery", "/hooks/github", first, gh(first, "d-1"), 0, 200},
		{"github same body, new id", "/hooks/github", first, gh(first, "d-forged"), 0, 200},
		{"github same id, new body", "/hooks/github", second, gh(second, "d-1"), 0, 200},
		{"github new delivery", "/hooks/github", second, gh(second, "d-2"), 0, 202},
		{"github forged replay is unauthorized first", "/hooks/github", first, map[string]string{"X-Hub-Signature-256": sign(first, "x")}, 0, 401},
		{"github after the window", "/hooks/github", first, gh(first, "d-1"), time.Hour, 202},
		{"gitlab event", "/hooks/gitlab", first, gl("e-1"), 0, 202},
		{"gitlab same event", "/hooks/gitlab", second, gl("e-1"), 0, 200},
		{"gitlab no event id", "/hooks/gitlab", first, gl(""), 0, 202},
		{"gitlab no event id again", "/hooks/gitlab", first, gl(""), 0, 202},
		{"generic", "/hooks/generic", first, map[string]string{"X-Signature-256": sign(first, hookSecret)}, 0, 202},
		{"generic same body", "/hooks/generic", first, map[string]string{"X-Signature-256": sign(first, hookSecret)}, 0, 202},
	}
	for _, s := range steps {
		h.clock.Advance(s.advance)
		if got := h.post(t, s.path, s.body, s.headers); got != s.status {
			t.Errorf("%s: status %d, want %d", s.name, got, s.status)
		}
	}
	triggers, observed := h.snapshot()
	want := map[string]int{"github accepted": 3, "github replayed": 3, "github unauthorized": 1,
		"gitlab accepted": 3, "gitlab replayed": 1, "generic accepted": 2}
	if d := cmp.Diff(want, observed); d != "" || triggers != 8 {
		t.Errorf("%d triggers, want 8; counts (-want +got):\n%s", triggers, d)
	}
}

// TestWebhookLogsRateLimited: refusals are logged at debug, accepted pushes
// at info, each kind at most once a second, with the count suppressed.
func TestWebhookLogsRateLimited(t *testing.T) {
	h := newHookServer(t, gitsource.WebhookConfig{})
	for range 50 {
		h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": "wrong"})
	}
	h.clock.Advance(time.Second)
	h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": "wrong"})
	for i := range 10 {
		h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": hookSecret, "X-Gitlab-Event-UUID": fmt.Sprint(i)})
	}
	type line struct {
		Level      string
		Result     string
		Suppressed int64
	}
	var got []line
	for _, e := range h.logs.FilterMessage("webhook").All() {
		got = append(got, line{e.Level.String(), e.ContextMap()["result"].(string), e.ContextMap()["suppressed"].(int64)})
	}
	want := []line{{"debug", "unauthorized", 0}, {"debug", "unauthorized", 49}, {"info", "accepted", 0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("log lines (-want +got):\n%s", d)
	}
	if _, observed := h.snapshot(); observed["gitlab unauthorized"] != 51 || observed["gitlab accepted"] != 10 {
		t.Errorf("counted %v, want every request", observed)
	}
}

// TestWebhookBodyTimeout: a client that sends its headers and then its body
// too slowly gets 408 once BodyTimeout has passed, on a server without any
// timeout of its own, and the connection is closed.
func TestWebhookBodyTimeout(t *testing.T) {
	h := newHookServer(t, gitsource.WebhookConfig{BodyTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", h.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound for the test only
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("status %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	if _, observed := h.snapshot(); observed["github timeout"] != 1 {
		t.Errorf("counted %v, want one github timeout", observed)
	}
}

// TestWebhookConcurrencyCap: with MaxConcurrent requests in progress (bodies
// stalled), the next is refused unread with 503 and Retry-After, and
// counted; once they end, hooks are served again.
func TestWebhookConcurrencyCap(t *testing.T) {
	h := newHookServer(t, gitsource.WebhookConfig{MaxConcurrent: 2, BodyTimeout: time.Minute})
	var stalled []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", h.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /hooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
		stalled = append(stalled, conn)
	}
	// Wait (bounded) until both stalled requests hold their slots: a GET
	// holds one only for a moment.
	busy := false
	for range 500 {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/hooks/github", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			busy = resp.Header.Get("Retry-After") == "1"
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !busy {
		t.Fatal("never refused a request while two were in progress")
	}
	if got := h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": hookSecret}); got != http.StatusServiceUnavailable {
		t.Errorf("a valid push while full: %d, want 503", got)
	}
	for _, c := range stalled {
		c.Close()
	}
	served := false
	for range 500 {
		if h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": hookSecret}) == http.StatusAccepted {
			served = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !served {
		t.Error("hooks were not served again after the stalled requests ended")
	}
	if _, observed := h.snapshot(); observed["gitlab busy"] < 1 || observed["github busy"] != 1 {
		t.Errorf("counted %v, want busy refusals", observed)
	}
}

// TestWebhookServerTimeouts: the recommended server timeouts leave room for
// the body timeout.
func TestWebhookServerTimeouts(t *testing.T) {
	got := gitsource.WebhookServerTimeouts()
	if got.Read <= gitsource.DefaultWebhookBodyTimeout || got.ReadHeader <= 0 || got.Write <= 0 || got.Idle <= 0 {
		t.Errorf("timeouts %+v: Read must exceed the body timeout %s, all positive", got, gitsource.DefaultWebhookBodyTimeout)
	}
}

// TestWebhookRefusedConnectionsClose: on a server without timeouts of its
// own, a client that keeps trickling its body is cut off with its answer,
// both when its body timed out (408) and when it was refused unread because
// the hooks were busy (503): the server does not drain the rest of the body
// for as long as the client sends it. Every other answer closes its
// connection too.
func TestWebhookRefusedConnectionsClose(t *testing.T) {
	h := newHookServer(t, gitsource.WebhookConfig{MaxConcurrent: 1, BodyTimeout: 2 * time.Second})
	trickle := func() net.Conn {
		return testenv.Trickle(t, h.Listener.Addr().String(), "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
	}
	slow := trickle()
	// Wait until the slow request holds the one slot.
	for range 500 {
		if h.post(t, "/hooks/gitlab", "{}", map[string]string{"X-Gitlab-Token": hookSecret}) == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	refused := trickle()
	testenv.AnswerThenEOF(t, "refused while busy", refused, http.StatusServiceUnavailable)
	testenv.AnswerThenEOF(t, "body too slow", slow, http.StatusRequestTimeout)
	if _, observed := h.snapshot(); observed["github timeout"] != 1 || observed["github busy"] != 1 {
		t.Errorf("counted %v, want one github timeout and one github busy", observed)
	}
	// An accepted push and an unauthorized one close their connections
	// too: none is left idle holding a connection of the server.
	for _, sig := range []string{sign("{}", hookSecret), "sha256=00"} {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/hooks/github", strings.NewReader("{}"))
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !resp.Close {
			t.Errorf("answer %d keeps its connection open", resp.StatusCode)
		}
	}
}
