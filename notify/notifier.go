package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/ca-reconciler/ca-reconciler/internal/retry"
)

// Results, as counted by Config.Observe per target.
const (
	ResultSent         = "sent"
	ResultRetry        = "retry"
	ResultFailed       = "failed"
	ResultDuplicate    = "duplicate"    // same content as the last message for this repo and kind
	ResultRateLimited  = "rate_limited" // dropped: the target's token bucket was empty
	ResultQueueFull    = "queue_full"   // dropped: the target's queue was full
	maxBody            = 64 << 10
	defaultQueue       = 100
	defaultRetries     = 5
	defaultBurst       = 10
	defaultRatePerHour = 60
)

// Config configures a Notifier.
type Config struct {
	Targets []Target
	// Rate is how many messages per second each target may receive on
	// average (default 60 an hour), Burst how many at once (default 10):
	// a token bucket per target. Messages beyond it are dropped and
	// counted.
	Rate  rate.Limit
	Burst int
	// QueueSize bounds each target's waiting messages (default 100).
	QueueSize int
	// Retries, RetryInitial (default 1s) and RetryMax (default 1m): failed
	// deliveries are retried with jittered exponential backoff.
	Retries      int
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Client sends the requests; nil means a client with a 10s timeout.
	Client *http.Client
	// Now is the clock for the rate limit and event times; nil means
	// time.Now.
	Now func() time.Time
	// Observe, if set, counts each message per target by result. The
	// target is named by its position among the --notify-url flags ("0",
	// "1", ...), never by its URL, which may be a secret.
	Observe func(target, result string)
	Logger  *zap.Logger
}

// Notifier delivers events to every target in the background.
type Notifier struct {
	cfg     Config
	targets []*target

	mu sync.Mutex // guards every target's last
}

// dedupKey is what one message is about: a kind, for a repo (or the
// organization, repo ""), and for a refusal by a guard, the guard.
type dedupKey struct {
	kind Kind
	repo string
	held string
}

func keyOf(e Event) dedupKey { return dedupKey{e.Kind, e.Repo, e.Held} }

type target struct {
	name    string
	Target  Target
	limiter *rate.Limiter
	queue   chan Event
	// last is the content hash of the last message queued for each key:
	// a message dropped (rate limit, full queue) is not remembered, so
	// the same message is tried again when it is notified again.
	last map[dedupKey]string
}

// New returns a Notifier; call Run to deliver.
func New(cfg Config) *Notifier {
	if cfg.Rate == 0 {
		cfg.Rate = rate.Limit(float64(defaultRatePerHour) / 3600)
	}
	if cfg.Burst <= 0 {
		cfg.Burst = defaultBurst
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueue
	}
	if cfg.Retries == 0 {
		cfg.Retries = defaultRetries
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	n := &Notifier{cfg: cfg}
	for i, t := range cfg.Targets {
		n.targets = append(n.targets, &target{
			name:    strconv.Itoa(i),
			Target:  t,
			limiter: rate.NewLimiter(cfg.Rate, cfg.Burst),
			queue:   make(chan Event, cfg.QueueSize),
			last:    map[dedupKey]string{},
		})
	}
	return n
}

// Notify queues e for every target, unless the last message queued for
// that target about the same thing (kind, repo, guard) said the same: then
// it is counted as a duplicate. It never blocks: a target whose bucket is
// empty or whose queue is full drops it (counted), and a dropped message is
// not remembered, so notifying it again (a refusal, every cycle) tries
// again.
func (n *Notifier) Notify(e Event) {
	e.Version = SchemaVersion
	if e.Summary == "" {
		e.Summary = headline(e)
	}
	if e.Time.IsZero() {
		e.Time = n.cfg.Now()
	}
	key, hash := keyOf(e), e.contentHash()
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.targets {
		switch {
		case t.last[key] == hash:
			n.observe(t, ResultDuplicate)
		case !t.limiter.AllowN(now, 1):
			n.observe(t, ResultRateLimited)
			n.cfg.Logger.Warn("notification dropped: rate limit", zap.String("target", t.name), zap.String("kind", string(e.Kind)), zap.String("repo", e.Repo))
		default:
			select {
			case t.queue <- e:
				t.last[key] = hash
			default:
				n.observe(t, ResultQueueFull)
				n.cfg.Logger.Warn("notification dropped: queue full", zap.String("target", t.name), zap.String("kind", string(e.Kind)), zap.String("repo", e.Repo))
			}
		}
	}
}

// Forget clears what was last said about a repo (it recovered), so that
// the same message is sent again if the same thing happens again.
func (n *Notifier) Forget(repo string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.targets {
		for k := range t.last {
			if k.repo == repo {
				delete(t.last, k)
			}
		}
	}
}

// Resolved clears what was last said of one kind about a repo (repo ""
// for the organization) and guard (held "" for none), because it no
// longer holds: the same message is sent again if it happens again.
func (n *Notifier) Resolved(kind Kind, repo, held string) {
	key := dedupKey{kind, repo, held}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.targets {
		delete(t.last, key)
	}
}

// Run delivers queued messages, one goroutine per target, until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-t.queue:
					n.deliver(ctx, t, e)
				}
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// Drain delivers what is queued, with retries, and returns when every
// queue is empty or ctx ends: for a process about to exit (run --once).
func (n *Notifier) Drain(ctx context.Context) {
	for _, t := range n.targets {
		for ctx.Err() == nil {
			select {
			case e := <-t.queue:
				n.deliver(ctx, t, e)
				continue
			default:
			}
			break
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, t *target, e Event) {
	log := n.cfg.Logger.With(zap.String("target", t.name), zap.String("kind", string(e.Kind)), zap.String("repo", e.Repo))
	body, err := encode(t.Target.Format, e)
	if err != nil {
		log.Error("notification not encoded", zap.Error(err))
		n.observe(t, ResultFailed)
		return
	}
	out := retry.Do(ctx, retry.Policy{Initial: n.cfg.RetryInitial, Max: n.cfg.RetryMax, Retries: n.cfg.Retries},
		func(ctx context.Context) error { return n.post(ctx, t, body) },
		func() bool { return ctx.Err() != nil },
		func(err error, wait time.Duration) {
			log.Info("notification failed; retrying", zap.Error(err), zap.Duration("in", wait))
			n.observe(t, ResultRetry)
		})
	switch {
	case out.Interrupted:
		return
	case out.Err == nil:
		log.Info("notification sent")
		n.observe(t, ResultSent)
	default:
		log.Warn("notification not sent", zap.Error(out.Err), zap.Int("tries", out.Tries))
		n.observe(t, ResultFailed)
	}
}

// post sends one message. Its errors never hold the URL: for Slack the
// URL is the secret.
func (n *Notifier) post(ctx context.Context, t *target, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Target.URL, bytes.NewReader(body))
	if err != nil {
		return retry.Permanent(errors.New("building the request failed"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ca-reconciler")
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting to notify target %s: %w", t.name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("posting to notify target %s: %s", t.name, resp.Status)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		return err
	}
	return retry.Permanent(err)
}

func (n *Notifier) observe(t *target, result string) {
	if n.cfg.Observe != nil {
		n.cfg.Observe(t.name, result)
	}
}
