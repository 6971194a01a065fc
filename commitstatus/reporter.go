package commitstatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
	"github.com/ca-reconciler/ca-reconciler/internal/retry"
)

// Report results, as counted by Config.Observe.
const (
	ResultSent      = "sent"      // the provider accepted the status
	ResultRetry     = "retry"     // a try failed and will be retried
	ResultFailed    = "failed"    // given up: a permanent error or out of tries
	ResultDuplicate = "duplicate" // the revision already has this state; nothing sent
	ResultDropped   = "dropped"   // the queue was full; the oldest report was dropped
)

// Config configures a Reporter.
type Config struct {
	Provider Provider
	// URL is the API base URL; empty means the provider's public API.
	URL string
	// Repo is owner/repo on GitHub, the project id or path on GitLab.
	Repo string
	// TokenFile holds the API token. It is read before every request, so
	// a rotated token applies at once; the token is never logged.
	TokenFile string
	// Context names the status (GitLab: its name), "ca-reconciler/ORG".
	Context string
	// TargetURL is the link from the status (the daemon's page).
	TargetURL string
	// Client sends the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// Retries is how many times a failed report is retried (default 8),
	// RetryInitial the first delay (default 2s), doubling with jitter up
	// to RetryMax (default 5m).
	Retries      int
	RetryInitial time.Duration
	RetryMax     time.Duration
	// QueueSize bounds the reports waiting to be sent (default 64); when
	// it is full the oldest is dropped.
	QueueSize int
	// Observe, if set, counts every report by result (Result*).
	Observe func(result string)
	Logger  *zap.Logger
}

func (c *Config) defaults() {
	if c.URL == "" {
		c.URL = c.Provider.DefaultURL()
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Retries == 0 {
		c.Retries = 8
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 64
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// rememberedRevisions bounds how many revisions' last states are kept for
// deduplication.
const rememberedRevisions = 256

// Reporter sends commit statuses in the background. Report never blocks
// and never fails; Run sends, retrying with jittered backoff.
type Reporter struct {
	cfg  Config
	wake chan struct{}

	mu    sync.Mutex
	queue []job
	// last is the state last queued per revision (and order, oldest
	// first, to forget old revisions).
	last  map[string]State
	order []string
}

type job struct {
	revision string
	status   Status
}

// New checks the configuration and returns a Reporter.
func New(cfg Config) (*Reporter, error) {
	if _, err := ParseProvider(string(cfg.Provider)); err != nil {
		return nil, err
	}
	if cfg.Repo == "" {
		return nil, errors.New("commit status: no repository")
	}
	if cfg.TokenFile == "" {
		return nil, errors.New("commit status: no token file")
	}
	if cfg.Context == "" {
		return nil, errors.New("commit status: no context")
	}
	cfg.defaults()
	return &Reporter{cfg: cfg, wake: make(chan struct{}, 1), last: map[string]State{}}, nil
}

// Report asks for revision's commit to show s. A state the revision already
// has (or has queued) is not sent again, whatever its description: one
// POST per state per revision.
func (r *Reporter) Report(revision string, s Status) {
	r.mu.Lock()
	if prev, ok := r.last[revision]; ok && prev == s.State {
		r.mu.Unlock()
		r.observe(ResultDuplicate)
		return
	}
	if _, ok := r.last[revision]; !ok {
		r.order = append(r.order, revision)
		if len(r.order) > rememberedRevisions {
			delete(r.last, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.last[revision] = s.State
	dropped := false
	if len(r.queue) >= r.cfg.QueueSize {
		r.queue = r.queue[1:]
		dropped = true
	}
	r.queue = append(r.queue, job{revision, s})
	r.mu.Unlock()
	if dropped {
		r.observe(ResultDropped)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run sends queued reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	for {
		j, ok := r.next()
		if !ok {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.wake:
				continue
			}
		}
		r.deliver(ctx, j)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Drain sends what is queued, with retries, and returns when the queue is
// empty or ctx ends: for a process about to exit (run --once).
func (r *Reporter) Drain(ctx context.Context) {
	for ctx.Err() == nil {
		j, ok := r.next()
		if !ok {
			return
		}
		r.deliver(ctx, j)
	}
}

func (r *Reporter) next() (job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return job{}, false
	}
	j := r.queue[0]
	r.queue = r.queue[1:]
	return j, true
}

// superseded reports whether a later state was queued for j's revision:
// then j is not worth retrying.
func (r *Reporter) superseded(j job) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[j.revision] != j.status.State
}

func (r *Reporter) deliver(ctx context.Context, j job) {
	log := r.cfg.Logger.With(zap.String("revision", j.revision), zap.String("state", string(j.status.State)))
	out := retry.Do(ctx, retry.Policy{Initial: r.cfg.RetryInitial, Max: r.cfg.RetryMax, Retries: r.cfg.Retries},
		func(ctx context.Context) error { return r.send(ctx, j) },
		func() bool { return r.superseded(j) },
		func(err error, wait time.Duration) {
			log.Info("commit status failed; retrying", zap.Error(err), zap.Duration("in", wait))
			r.observe(ResultRetry)
		})
	switch {
	case out.Interrupted:
		return
	case out.Err == nil:
		log.Info("commit status sent")
		r.observe(ResultSent)
	default:
		log.Warn("commit status not sent", zap.Error(out.Err), zap.Int("tries", out.Tries))
		r.forget(j)
		r.observe(ResultFailed)
	}
}

// forget lets a later Report of a state that could not be sent try again.
func (r *Reporter) forget(j job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last[j.revision] == j.status.State {
		delete(r.last, j.revision)
		for i, rev := range r.order {
			if rev == j.revision {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
	}
}

func (r *Reporter) send(ctx context.Context, j job) error {
	token, err := readToken(r.cfg.TokenFile)
	if err != nil {
		return err
	}
	req, err := r.cfg.Provider.request(r.cfg.URL, r.cfg.Repo, j.revision, token, r.cfg.Context, r.cfg.TargetURL, j.status)
	if err != nil {
		return retry.Permanent(err)
	}
	resp, err := r.cfg.Client.Do(req.WithContext(ctx))
	if err != nil {
		// The error names the URL, which holds no secret.
		return fmt.Errorf("posting the commit status: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerRead))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg := strings.TrimSpace(answerText(string(body), token))
	err = fmt.Errorf("posting the commit status to %s: %s: %s", req.URL.Redacted(), resp.Status, msg)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return err
	case resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-RateLimit-Remaining") == "0":
		// GitHub's rate limit answers 403.
		return err
	}
	return retry.Permanent(err)
}

// maxAnswerRead bounds what is read of a provider's answer; maxAnswerText
// what of it an error quotes.
const (
	maxAnswerRead = 4 << 10
	maxAnswerText = 512
)

// answerText is what an error quotes of a provider's answer: redacted
// before it is cut, so a token echoed across the cut leaves no part
// behind, and the token removed wherever it appears even when it is
// shorter than redact.MinSecretLen (the provider's answer echoing the
// request is where a token is most likely to be found).
func answerText(body, token string) string {
	if token != "" && len(token) < redact.MinSecretLen {
		// First, so that a token that is part of the placeholder cannot
		// mangle it.
		body = strings.ReplaceAll(body, token, redact.Placeholder)
	}
	msg := redact.New(token).String(body)
	if len(msg) > maxAnswerText {
		msg = strings.ToValidUTF8(msg[:maxAnswerText], "")
	}
	return msg
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the commit status token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("reading the commit status token file %s: the file is empty", path)
	}
	return tok, nil
}

func (r *Reporter) observe(result string) {
	if r.cfg.Observe != nil {
		r.cfg.Observe(result)
	}
}
