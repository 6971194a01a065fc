package hookguard_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/internal/hookguard"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestReplays(t *testing.T) {
	g := hookguard.NewReplays(time.Hour)
	for _, tc := range []struct {
		keys  []string
		after time.Duration
		want  bool
	}{
		{nil, 0, false},
		{[]string{"id a", "body 1"}, 0, false},
		{[]string{"id a", "body 1"}, time.Minute, true},       // as captured
		{[]string{"id b", "body 1"}, time.Minute, true},       // a new id, the same body
		{[]string{"id a", "body 2"}, time.Minute, true},       // a redelivery keeps its id
		{[]string{"id c", "body 3"}, time.Minute, false},      // a new delivery
		{[]string{"id a", "body 1"}, 61 * time.Minute, false}, // past the window
	} {
		if got := g.Again(tc.keys, t0.Add(tc.after)); got != tc.want {
			t.Errorf("Again(%v) after %s = %v, want %v", tc.keys, tc.after, got, tc.want)
		}
	}
}

// A flood of distinct deliveries is remembered up to MaxRemembered: the
// oldest are forgotten, the newest still recognised.
func TestReplaysBounded(t *testing.T) {
	g := hookguard.NewReplays(time.Hour)
	for i := range hookguard.MaxRemembered + 10 {
		g.Again([]string{fmt.Sprint(i)}, t0)
	}
	if g.Again([]string{"0"}, t0) {
		t.Error("the oldest delivery is still remembered past MaxRemembered")
	}
	if !g.Again([]string{fmt.Sprint(hookguard.MaxRemembered + 9)}, t0) {
		t.Error("the newest delivery was forgotten")
	}
}

func TestLogLimit(t *testing.T) {
	l := hookguard.NewLogLimit(time.Second)
	type step struct {
		ok         bool
		suppressed int
	}
	var got []step
	for _, at := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, time.Second, 1500 * time.Millisecond, 3 * time.Second} {
		ok, n := l.Allow(t0.Add(at))
		got = append(got, step{ok, n})
	}
	want := []step{{true, 0}, {false, 0}, {false, 0}, {true, 2}, {false, 0}, {true, 1}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
		t.Errorf("Allow (-want +got):\n%s", diff)
	}
}
