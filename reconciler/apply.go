package reconciler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// apply writes every drifted, non-stalled change with at most
// cfg.Concurrency writes in flight, retrying retryable failures with jittered
// exponential backoff. Invalid, missing, orphan and in-sync repos are never
// written. It only writes and reports results: what follows from them
// (status, metrics, logs, build watching) is the transition's and the
// sinks' business.
func (r *Reconciler) apply(ctx context.Context, plan Plan) map[string]WriteResult {
	results := map[string]WriteResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.cfg.Concurrency)
	for _, c := range plan.Changes {
		if !c.Drifted() || c.Stalled || c.Err != nil || c.Held != "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(c Change) {
			defer wg.Done()
			defer func() { <-sem }()
			res := r.write(ctx, c)
			mu.Lock()
			results[c.Repo] = res
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	return results
}

func (r *Reconciler) write(ctx context.Context, c Change) WriteResult {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = r.cfg.RetryInitial
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxInterval = 30 * time.Second
	b.MaxElapsedTime = 0
	policy := backoff.WithContext(backoff.WithMaxRetries(b, uint64(r.cfg.Retries)), ctx)

	var written chainguard.Repo
	attempt := 0
	err := backoff.Retry(func() error {
		attempt++
		repo, err := r.writeCall(ctx, c)
		if err != nil {
			if chainguard.Retryable(err) {
				if attempt > r.cfg.Retries {
					// The policy stops here: say so, rather than "will retry".
					r.log.Warn("write failed, retries used up; trying again next cycle", zap.String("repo", c.Repo), zap.Int("attempt", attempt), zap.Error(err))
				} else {
					r.log.Warn("write failed, will retry", zap.String("repo", c.Repo), zap.Int("attempt", attempt), zap.Error(err))
				}
				return err
			}
			return backoff.Permanent(err)
		}
		written = repo
		return nil
	}, policy)
	res := WriteResult{Err: err, At: r.clock.Now(), Attempts: attempt}
	if err != nil {
		res.Transient = chainguard.Retryable(err) || errors.Is(err, context.Canceled)
		return res
	}
	res.RepoID = written.ID
	res.Converged = overlay.Equal(written.Overlay, c.Desired)
	return res
}

func diffStrings(d []overlay.Change) []string {
	out := make([]string, len(d))
	for i, c := range d {
		out[i] = c.String()
	}
	return out
}

// errText is an error's message for status and events, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}
