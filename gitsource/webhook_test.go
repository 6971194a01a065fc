package gitsource_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
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
