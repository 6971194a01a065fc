package main

import (
	"fmt"
	"testing"
)

// The daemon's collector runs at defaultGOGC unless the environment sets
// GOGC, whose value, "off" included, then stands: read from the real
// binary's go_gc_gogc_percent (the binary, because the setting is made in
// main, for the whole process).
func TestDefaultGOGC(t *testing.T) {
	f := newFixture(t) // the setting is made before anything is read: no repo or file is needed
	for _, tc := range []struct {
		env  []string
		want float64
	}{
		{nil, defaultGOGC},
		{[]string{"GOGC=100"}, 100},
		{[]string{"GOGC=off"}, float64(^uint64(0))}, // how runtime/metrics says off
	} {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			d := startServing(t, childEnv(tc.env...), append([]string{"run", "--interval", "1h"}, f.daemonArgs()...)...)
			if got := d.metric("go_gc_gogc_percent"); got != tc.want {
				t.Errorf("go_gc_gogc_percent %v, want %v", got, tc.want)
			}
			d.stop()
		})
	}
}

// setDefaultGOGC sets GOGC only when the environment has no GOGC at all.
func TestSetDefaultGOGC(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []int
	}{
		{map[string]string{}, []int{defaultGOGC}},
		{map[string]string{"GOGC": "200"}, nil},
		{map[string]string{"GOGC": ""}, nil}, // set, if empty: the runtime reads it as 100
	} {
		var set []int
		setDefaultGOGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, func(v int) int { set = append(set, v); return 100 })
		if fmt.Sprint(set) != fmt.Sprint(tc.want) {
			t.Errorf("env %v: set %v, want %v", tc.env, set, tc.want)
		}
	}
}
