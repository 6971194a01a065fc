package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/clock"
	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
	"github.com/ca-reconciler/ca-reconciler/internal/hookguard"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// MaxWebhookBody is the largest webhook body accepted (1 MiB).
const MaxWebhookBody = 1 << 20

// Webhook defaults, used where WebhookConfig leaves a field zero.
const (
	// DefaultWebhookBodyTimeout bounds reading one request's body; the
	// handler sets it as the connection's read deadline itself, whatever
	// the server's timeouts. GitHub gives up on a delivery after 10 s.
	DefaultWebhookBodyTimeout = 10 * time.Second
	// DefaultMaxConcurrentWebhooks is how many hook requests are served
	// at once; more are refused unread (503, result busy).
	DefaultMaxConcurrentWebhooks = 16
	// DefaultReplayWindow is how long a delivery is remembered: the same
	// delivery again within it is answered but triggers nothing.
	DefaultReplayWindow = time.Hour
)

// ServerTimeouts are the http.Server settings a server that serves the
// hooks should use (see WebhookServerTimeouts).
type ServerTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// WebhookServerTimeouts returns the timeouts recommended for the server the
// hooks are mounted on: a client must send its headers within 5 s and its
// whole request within 15 s (the body alone within the handler's
// BodyTimeout), the answer must be written within 15 s, and an idle
// keep-alive connection is closed after 60 s. None of them gets in the way
// of /metrics scrapes, status reads or the page.
func WebhookServerTimeouts() ServerTimeouts {
	return ServerTimeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 15 * time.Second, Idle: 60 * time.Second}
}

// WebhookConfig configures the push webhook receiver.
type WebhookConfig struct {
	// SecretFile holds the shared secret; it is read on every request, so
	// a rotated secret applies at once.
	SecretFile string
	// Trigger asks for a cycle; it must not block (the reconciler's
	// Trigger coalesces bursts into one cycle).
	Trigger func(reason vocab.Trigger)
	// Observe counts each request by provider and result.
	Observe func(provider vocab.WebhookProvider, result vocab.WebhookResult)
	Logger  *zap.Logger
	// BodyTimeout bounds reading a request's body; DefaultWebhookBodyTimeout
	// when zero.
	BodyTimeout time.Duration
	// MaxConcurrent is how many requests, over all providers, are served at
	// once; DefaultMaxConcurrentWebhooks when zero.
	MaxConcurrent int
	// ReplayWindow is how long deliveries are remembered;
	// DefaultReplayWindow when zero.
	ReplayWindow time.Duration
	// Clock is the time replay windows and log spacing are measured in;
	// the wall clock when nil. (Connection deadlines are always wall time.)
	Clock clock.Clock
}

// WebhookHandlers returns the handlers for POST /hooks/github (header
// X-Hub-Signature-256: sha256=HMAC), /hooks/gitlab (X-Gitlab-Token: SECRET)
// and /hooks/generic (X-Signature-256: sha256=HMAC), keyed by path. A valid
// call only triggers a cycle: the payload is never used as data. Signatures
// are compared in constant time.
//
// Answers: a valid push 202; a GitHub ping 200 without a cycle; a delivery
// already seen within ReplayWindow 200 without a cycle (replayed); missing or
// wrong signature 401; a body over MaxWebhookBody 413; a body not sent within
// BodyTimeout 408; a method other than POST 405; more than MaxConcurrent
// requests at once 503 with Retry-After, the body unread. Every answer
// closes its connection (at once when the body was not read), so the hooks
// hold at most MaxConcurrent of the server's connections, each for at most
// BodyTimeout. Every request is counted (Observe); accepted ones are logged
// at info and the rest at debug, each kind at most once a second, with the
// number of lines suppressed.
//
// A delivery is recognised again by GitHub's X-GitHub-Delivery id (one per
// event, kept by redeliveries) and, because that header is not signed, also
// by the signed body itself; by GitLab's X-Gitlab-Event-UUID and
// Idempotency-Key. Generic hooks have no delivery id and may sign the same
// body for every push, so they are not checked for replays.
func WebhookHandlers(cfg WebhookConfig) map[string]http.Handler {
	defaults.Positive(&cfg.BodyTimeout, DefaultWebhookBodyTimeout)
	defaults.Positive(&cfg.MaxConcurrent, DefaultMaxConcurrentWebhooks)
	defaults.Positive(&cfg.ReplayWindow, DefaultReplayWindow)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	shared := &hooks{
		cfg:      cfg,
		slots:    make(chan struct{}, cfg.MaxConcurrent),
		seen:     hookguard.NewReplays(cfg.ReplayWindow),
		accepted: hookguard.NewLogLimit(hookguard.LogEvery),
		refused:  hookguard.NewLogLimit(hookguard.LogEvery),
	}
	out := map[string]http.Handler{}
	for _, p := range vocab.WebhookProviders() {
		out["/hooks/"+string(p)] = &webhook{hooks: shared, provider: p}
	}
	return out
}

// hooks is what the handlers of all providers share.
type hooks struct {
	cfg               WebhookConfig
	slots             chan struct{} // one per request being served
	seen              *hookguard.Replays
	accepted, refused *hookguard.LogLimit
}

type webhook struct {
	*hooks
	provider vocab.WebhookProvider
}

// answer is how a request was answered.
type answer struct {
	result vocab.WebhookResult
	status int
	msg    string
	// bodyRead is set once the body was read to its end.
	bodyRead bool
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a answer
	select {
	case h.slots <- struct{}{}:
		a = h.handle(w, r)
		<-h.slots
	default:
		a = answer{vocab.WebhookBusy, http.StatusServiceUnavailable, "busy, retry later", false}
		w.Header().Set("Retry-After", "1")
	}
	if h.cfg.Observe != nil {
		h.cfg.Observe(h.provider, a.result)
	}
	h.log(r, a.result)
	if a.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	// Every hook answer ends its connection: deliveries come one per
	// connection, and a kept-alive one would sit idle holding one of the
	// server's connections for its idle timeout.
	w.Header().Set("Connection", "close")
	if !a.bodyRead {
		// A request answered before its body was read to the end (busy,
		// too large, too slow, a bad method) is cut off with the answer.
		// Otherwise the server would drain the rest of the body from a
		// slow client after the handler returns, for as long as the client
		// keeps sending.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.msg+"\n")
}

// log writes one line per request, rate limited: accepted pushes and pings
// at info, everything else at debug.
func (h *webhook) log(r *http.Request, result vocab.WebhookResult) {
	lim, level := h.refused, zap.DebugLevel
	if result == vocab.WebhookAccepted || result == vocab.WebhookPing {
		lim, level = h.accepted, zap.InfoLevel
	}
	ok, suppressed := lim.Allow(h.cfg.Clock.Now())
	if !ok {
		return
	}
	if ce := h.cfg.Logger.Check(level, "webhook"); ce != nil {
		ce.Write(zap.String("provider", string(h.provider)), zap.String("result", string(result)),
			zap.String("remote", r.RemoteAddr), zap.Int("suppressed", suppressed))
	}
}

func (h *webhook) handle(w http.ResponseWriter, r *http.Request) answer {
	if r.Method != http.MethodPost {
		return answer{vocab.WebhookBadMethod, http.StatusMethodNotAllowed, "only POST", false}
	}
	// A read deadline on the connection bounds a client that sends its body
	// slowly, even on a server without timeouts. It is left in place when
	// the handler returns: clearing it would also clear the server's own
	// read timeout, and a refused request's unread body would then be
	// drained for as long as the client trickles it. (A server with
	// timeouts sets the next request's deadlines itself.) Connection
	// deadlines are wall time.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return answer{vocab.WebhookTooLarge, http.StatusRequestEntityTooLarge, "body too large", false}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return answer{vocab.WebhookTimeout, http.StatusRequestTimeout, "body not sent in time", false}
	case err != nil:
		return answer{vocab.WebhookBadRequest, http.StatusBadRequest, "unreadable body", false}
	}
	secret, err := readSecret(h.cfg.SecretFile)
	if err != nil {
		h.cfg.Logger.Error("webhook secret unreadable", zap.Error(err))
		return answer{vocab.WebhookUnauthorized, http.StatusUnauthorized, "unauthorized", true}
	}
	if !h.authentic(r.Header, body, secret) {
		return answer{vocab.WebhookUnauthorized, http.StatusUnauthorized, "unauthorized", true}
	}
	if h.provider == vocab.WebhookGitHub && r.Header.Get("X-GitHub-Event") == "ping" {
		return answer{vocab.WebhookPing, http.StatusOK, "pong", true}
	}
	if h.seen.Again(deliveryKeys(h.provider, r.Header, body), h.cfg.Clock.Now()) {
		return answer{vocab.WebhookReplayed, http.StatusOK, "delivery already seen", true}
	}
	h.cfg.Trigger(vocab.TriggerWebhook)
	return answer{vocab.WebhookAccepted, http.StatusAccepted, "cycle triggered", true}
}

func (h *webhook) authentic(hdr http.Header, body, secret []byte) bool {
	switch h.provider {
	case vocab.WebhookGitLab:
		got := []byte(hdr.Get("X-Gitlab-Token"))
		return len(got) > 0 && subtle.ConstantTimeCompare(got, secret) == 1
	case vocab.WebhookGitHub:
		return validHMAC(hdr.Get("X-Hub-Signature-256"), body, secret)
	default:
		return validHMAC(hdr.Get("X-Signature-256"), body, secret)
	}
}

// deliveryKeys are what recognises an authentic delivery when it comes again.
func deliveryKeys(p vocab.WebhookProvider, hdr http.Header, body []byte) []string {
	var keys []string
	add := func(kind, v string) {
		if v != "" {
			keys = append(keys, string(p)+" "+kind+" "+v)
		}
	}
	switch p {
	case vocab.WebhookGitHub:
		add("delivery", hdr.Get("X-GitHub-Delivery"))
		sum := sha256.Sum256(body)
		add("body", hex.EncodeToString(sum[:]))
	case vocab.WebhookGitLab:
		add("event", hdr.Get("X-Gitlab-Event-UUID"))
		add("idempotency", hdr.Get("Idempotency-Key"))
	}
	return keys
}

// validHMAC checks a "sha256=<hex>" signature of body in constant time.
func validHMAC(header string, body, secret []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading webhook secret file %s: %w", path, err)
	}
	s := []byte(strings.TrimSpace(string(b)))
	if len(s) == 0 {
		return nil, fmt.Errorf("reading webhook secret file %s: %w", path, errors.New("file is empty"))
	}
	return s, nil
}
