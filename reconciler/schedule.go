package reconciler

import (
	"context"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// DefaultTriggerSpacing is the least time between the starts of two
// triggered cycles.
const DefaultTriggerSpacing = time.Second

// loop is the state the scheduler decides from.
type loop struct {
	// due is when the next interval cycle starts.
	due time.Time
	// pending is a trigger that arrived after the last cycle started, and
	// its reason.
	pending       bool
	pendingReason vocab.Trigger
	// lastTriggered is when the last triggered cycle started (zero: none
	// yet).
	lastTriggered time.Time
}

// nextCycle is the scheduler, a pure function: when the next cycle starts
// and why. An interval cycle starts when due. A pending trigger starts a
// cycle at once, unless a triggered cycle started less than spacing ago:
// then at that cycle's start plus spacing, so that a burst of pushes shares
// one trailing cycle; every trigger arriving meanwhile is the same pending
// one. A trigger never delays an interval cycle that is due first (that
// cycle reads the push too).
func nextCycle(l loop, spacing time.Duration) (time.Time, vocab.Trigger) {
	if !l.pending {
		return l.due, vocab.TriggerInterval
	}
	at := l.lastTriggered.Add(spacing)
	if l.lastTriggered.IsZero() {
		at = time.Time{}
	}
	if l.due.Before(at) {
		return l.due, vocab.TriggerInterval
	}
	return at, l.pendingReason
}

// Trigger asks for a cycle as soon as the trigger spacing allows. It never
// blocks: while one trigger is pending, more are coalesced into it.
func (r *Reconciler) Trigger(reason vocab.Trigger) {
	select {
	case r.trigger <- reason:
	default:
	}
}

// Run runs a cycle at start, then every jittered interval (counted from the
// end of the previous cycle) and on Trigger as nextCycle decides, until ctx
// is done. Errors of a cycle are logged and reported, never fatal.
func (r *Reconciler) Run(ctx context.Context) error {
	var l loop
	reason := vocab.TriggerStart
	for {
		// A trigger that came before this cycle starts is served by it.
		select {
		case <-r.trigger:
		default:
		}
		if reason != vocab.TriggerStart && reason != vocab.TriggerInterval {
			l.lastTriggered = r.clock.Now()
		}
		l.pending = false
		r.RunOnce(ctx, reason)
		l.due = r.clock.Now().Add(r.nextInterval())
		for {
			at, why := nextCycle(l, r.cfg.TriggerSpacing)
			wait := at.Sub(r.clock.Now())
			if wait <= 0 {
				reason = why
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-r.clock.After(wait):
				continue // recompute: the time has come, or the clock moved
			case t := <-r.trigger:
				l.pending, l.pendingReason = true, t
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (r *Reconciler) nextInterval() time.Duration {
	if r.cfg.Jitter == 0 {
		return r.cfg.Interval
	}
	return r.cfg.Interval + time.Duration(r.rand.Float64()*r.cfg.Jitter*float64(r.cfg.Interval))
}
