package reconciler

import (
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func TestNextCycle(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name   string
		l      loop
		at     time.Time
		reason vocab.Trigger
	}{
		{"nothing pending: the interval cycle", loop{due: at(time.Minute)}, at(time.Minute), vocab.TriggerInterval},
		{"a first push starts a cycle at once", loop{due: at(time.Minute), pending: true, pendingReason: vocab.TriggerWebhook},
			time.Time{}, vocab.TriggerWebhook},
		{"a push after a quiet period starts a cycle at once (the time is past)",
			loop{due: at(time.Minute), pending: true, pendingReason: vocab.TriggerWebhook, lastTriggered: at(-10 * time.Second)},
			at(-9 * time.Second), vocab.TriggerWebhook},
		{"a push within the spacing waits for the trailing cycle",
			loop{due: at(time.Minute), pending: true, pendingReason: vocab.TriggerWebhook, lastTriggered: at(-200 * time.Millisecond)},
			at(800 * time.Millisecond), vocab.TriggerWebhook},
		{"an interval cycle due first serves the push",
			loop{due: at(300 * time.Millisecond), pending: true, pendingReason: vocab.TriggerWebhook, lastTriggered: at(-200 * time.Millisecond)},
			at(300 * time.Millisecond), vocab.TriggerInterval},
		{"the reason of the pending trigger is kept",
			loop{due: at(time.Minute), pending: true, pendingReason: "event", lastTriggered: at(-time.Hour)},
			at(-time.Hour + time.Second), "event"},
	} {
		gotAt, gotReason := nextCycle(tc.l, time.Second)
		if !gotAt.Equal(tc.at) || gotReason != tc.reason {
			t.Errorf("%s: nextCycle = %v %s, want %v %s", tc.name, gotAt, gotReason, tc.at, tc.reason)
		}
	}
}
