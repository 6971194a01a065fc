// Package hookguard holds what every HTTP hook of the daemon (the push
// webhooks, Chainguard's events) uses to keep unauthenticated or replayed
// traffic cheap: a memory of deliveries already seen, so a captured
// delivery sent again triggers nothing, and a log limiter, so a flood
// writes one line a second however many requests it sends.
//
// Both take the time as an argument; callers pass their injected clock's.
package hookguard

import (
	"sync"
	"time"
)

// MaxRemembered bounds the deliveries a Replays remembers; the oldest are
// forgotten first, so a flood of distinct deliveries costs bounded memory.
const MaxRemembered = 10_000

// Replays remembers deliveries, by keys, for a window.
type Replays struct {
	window time.Duration

	mu    sync.Mutex
	at    map[string]time.Time // when each key was first seen
	order []string             // keys, oldest first
}

// NewReplays returns a memory of deliveries seen within window.
func NewReplays(window time.Duration) *Replays {
	return &Replays{window: window, at: map[string]time.Time{}}
}

// Again reports whether any of keys was seen within the window, and
// remembers them all when none was. No keys is never a replay.
func (g *Replays) Again(keys []string, now time.Time) bool {
	if len(keys) == 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.order) > 0 && now.Sub(g.at[g.order[0]]) >= g.window {
		delete(g.at, g.order[0])
		g.order = g.order[1:]
	}
	for _, k := range keys {
		if _, ok := g.at[k]; ok {
			return true
		}
	}
	for _, k := range keys {
		g.at[k] = now
		g.order = append(g.order, k)
	}
	for len(g.order) > MaxRemembered {
		delete(g.at, g.order[0])
		g.order = g.order[1:]
	}
	return false
}

// LogEvery is the least time between two lines of one kind that a hook
// logs for requests.
const LogEvery = time.Second

// LogLimit lets one log line through per interval and counts the rest.
type LogLimit struct {
	every time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// NewLogLimit returns a limiter of one line per every.
func NewLogLimit(every time.Duration) *LogLimit { return &LogLimit{every: every} }

// Allow reports whether a line may be written now, and how many were
// suppressed since the last one written.
func (l *LogLimit) Allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(l.every), 0
	return true, n
}
