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

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// MaxWebhookBody is the largest webhook body accepted (1 MiB).
const MaxWebhookBody = 1 << 20

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
}

// WebhookHandlers returns the handlers for POST /hooks/github (header
// X-Hub-Signature-256: sha256=HMAC), /hooks/gitlab (X-Gitlab-Token: SECRET)
// and /hooks/generic (X-Signature-256: sha256=HMAC), keyed by path. A valid
// call only triggers a cycle: the payload is never used as data. Signatures
// are compared in constant time. Missing or wrong signature: 401; body over
// MaxWebhookBody: 413; a method other than POST: 405; a GitHub ping: 200
// without a cycle.
func WebhookHandlers(cfg WebhookConfig) map[string]http.Handler {
	out := map[string]http.Handler{}
	for _, p := range vocab.WebhookProviders() {
		out["/hooks/"+string(p)] = &webhook{cfg: cfg, provider: p}
	}
	return out
}

type webhook struct {
	cfg      WebhookConfig
	provider vocab.WebhookProvider
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	result, status, msg := h.handle(r)
	if h.cfg.Observe != nil {
		h.cfg.Observe(h.provider, result)
	}
	if h.cfg.Logger != nil {
		h.cfg.Logger.Info("webhook", zap.String("provider", string(h.provider)), zap.String("result", string(result)), zap.String("remote", r.RemoteAddr))
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func (h *webhook) handle(r *http.Request) (result vocab.WebhookResult, status int, msg string) {
	if r.Method != http.MethodPost {
		return vocab.WebhookBadMethod, http.StatusMethodNotAllowed, "only POST"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return vocab.WebhookBadRequest, http.StatusBadRequest, "unreadable body"
	}
	if len(body) > MaxWebhookBody {
		return vocab.WebhookTooLarge, http.StatusRequestEntityTooLarge, "body too large"
	}
	secret, err := readSecret(h.cfg.SecretFile)
	if err != nil {
		if h.cfg.Logger != nil {
			h.cfg.Logger.Error("webhook secret unreadable", zap.Error(err))
		}
		return vocab.WebhookUnauthorized, http.StatusUnauthorized, "unauthorized"
	}
	if !h.authentic(r.Header, body, secret) {
		return vocab.WebhookUnauthorized, http.StatusUnauthorized, "unauthorized"
	}
	if h.provider == vocab.WebhookGitHub && r.Header.Get("X-GitHub-Event") == "ping" {
		return vocab.WebhookPing, http.StatusOK, "pong"
	}
	h.cfg.Trigger(vocab.TriggerWebhook)
	return vocab.WebhookAccepted, http.StatusAccepted, "cycle triggered"
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
