package main

import (
	"strings"
	"testing"
	"time"
)

func TestConsoleReport(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, n := range v {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	o := consoleOptions{repos: 100, edits: 4}
	for _, tc := range []struct {
		name string
		r    consoleResult
		want []string
	}{
		{"met", consoleResult{o: o, events: ms(10, 12, 11, 900), baseline: ms(4000, 4100, 3900, 4200), eventCycles: 8},
			[]string{"| with events | 11.0 ms | 900.0 ms | 900.0 ms | ≤ 1 s: met |", "| polling every 5s (baseline) | 4000.0 ms | 4200.0 ms | 4200.0 ms |  |", "ran 8 triggered cycles"}},
		{"missed", consoleResult{o: o, events: ms(10, 1200), baseline: ms(4000, 4000)},
			[]string{"| with events | 10.0 ms | 1200.0 ms | 1200.0 ms | ≤ 1 s: **missed** |"}},
		{"not run", consoleResult{o: o, skipped: "-console=false"}, []string{"Not run: -console=false."}},
	} {
		got := consoleReport(tc.r)
		if !strings.HasPrefix(got, consoleSectionStart+"\n") || !strings.HasSuffix(got, consoleSectionEnd+"\n") {
			t.Errorf("%s: the section is not between its markers:\n%s", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the section lacks %q:\n%s", tc.name, w, got)
			}
		}
	}
}
