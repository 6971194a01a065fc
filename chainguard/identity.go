package chainguard

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"chainguard.dev/sdk/sts"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// DefaultIssuer is Chainguard's token issuer.
const DefaultIssuer = "https://issuer.enforce.dev"

// maxRefreshMargin caps how early a token is refreshed before it expires.
const maxRefreshMargin = 5 * time.Minute

// Exchange trades an OIDC token for a Chainguard token (sts.ExchangePair).
type Exchange func(ctx context.Context, issuer, audience, idToken string, opts ...sts.ExchangerOption) (sts.TokenPair, error)

// WorkloadIdentity gets Chainguard tokens by exchanging an OIDC token (a
// Kubernetes projected service account token, or a CI job's OIDC token) at
// the issuer's security token service for the assumable identity ID. It
// re-reads the OIDC token file for every exchange (the kubelet rotates it)
// and refreshes the Chainguard token before it expires: when a fifth of its
// lifetime, at most five minutes, is left.
type WorkloadIdentity struct {
	// Issuer is the STS URL (DefaultIssuer).
	Issuer string
	// Audience is the API the token is for (the API URL).
	Audience string
	// Identity is the UIDP of the assumable identity.
	Identity string
	// OIDCTokenFile holds the OIDC token to exchange.
	OIDCTokenFile string
	// Timeout bounds one exchange (default DefaultCallTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now); Exchange the STS call (default
	// sts.ExchangePair). Both are replaceable for tests.
	Now      func() time.Time
	Exchange Exchange

	mu      sync.Mutex
	token   string
	expiry  time.Time
	refresh time.Time
}

// Token returns a valid Chainguard token, exchanging a fresh one when the
// current one is missing or due for refresh.
func (w *WorkloadIdentity) Token(ctx context.Context) (string, error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t := now()
	if w.token != "" && t.Before(w.refresh) {
		return w.token, nil
	}
	tok, exp, err := w.exchange(ctx)
	if err != nil {
		if w.token != "" && t.Before(w.expiry) {
			// The old token is still valid: use it and try again next call.
			return w.token, nil
		}
		return "", err
	}
	life := exp.Sub(t)
	margin := life / 5
	if margin > maxRefreshMargin {
		margin = maxRefreshMargin
	}
	w.token, w.expiry, w.refresh = tok, exp, exp.Add(-margin)
	return tok, nil
}

// Expiry returns when the current token expires (zero before the first
// exchange).
func (w *WorkloadIdentity) Expiry() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expiry
}

func (w *WorkloadIdentity) exchange(ctx context.Context) (string, time.Time, error) {
	b, err := os.ReadFile(w.OIDCTokenFile)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading OIDC token file %s: %w", w.OIDCTokenFile, err)
	}
	idToken := strings.TrimSpace(string(b))
	if idToken == "" {
		return "", time.Time{}, fmt.Errorf("reading OIDC token file %s: file is empty", w.OIDCTokenFile)
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exchange := w.Exchange
	if exchange == nil {
		exchange = sts.ExchangePair
	}
	issuer := w.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	pair, err := exchange(ctx, issuer, w.Audience, idToken, sts.WithIdentity(w.Identity))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("exchanging the OIDC token for identity %s at %s: %w", w.Identity, redact.URL(issuer), redact.New(idToken).Error(err))
	}
	if pair.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("exchanging the OIDC token for identity %s at %s: empty token", w.Identity, redact.URL(issuer))
	}
	exp := pair.Expiry
	if exp.IsZero() {
		exp = time.Now().Add(10 * time.Minute)
	}
	return pair.AccessToken, exp, nil
}
