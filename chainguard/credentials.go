package chainguard

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// TokenSource yields the bearer token for the next API call. Implementations
// must be safe for concurrent use and must never put the token in an error.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a token given once, e.g. from CA_RECONCILER_TOKEN. Its
// String and GoString methods redact it so it cannot leak through %v or %#v.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// String redacts the token.
func (t StaticToken) String() string { return redact.Placeholder }

// GoString redacts the token.
func (t StaticToken) GoString() string { return "chainguard.StaticToken(" + redact.Placeholder + ")" }

// TokenFile reads the token from a file and re-reads it whenever the file's
// modification time or size changes, so a rotated token (a Kubernetes Secret
// update, `chainctl auth token > file`) is picked up without a restart.
type TokenFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   string
}

// NewTokenFile returns a TokenSource reading path.
func NewTokenFile(path string) *TokenFile {
	return &TokenFile{path: path, now: time.Now}
}

// Token returns the file's current content, trimmed of surrounding space.
func (f *TokenFile) Token(context.Context) (string, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", f.path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("reading token file %s: file is empty", f.path)
	}
	f.token, f.modTime, f.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// perRPC adapts a TokenSource to gRPC's PerRPCCredentials. The SDK sends the
// Authorization value verbatim, so the "Bearer " scheme is added here.
type perRPC struct {
	src TokenSource
}

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := p.src.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("getting API token: %w", err)
	}
	if !strings.HasPrefix(tok, "Bearer ") {
		tok = "Bearer " + tok
	}
	return map[string]string{"authorization": tok}, nil
}

// RequireTransportSecurity is false: plaintext is allowed only for loopback
// or with an explicit --insecure, which CheckURL decides before dialing.
func (perRPC) RequireTransportSecurity() bool { return false }
