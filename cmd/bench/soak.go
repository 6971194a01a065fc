package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// soakPoint is the daemon's memory after a number of cycles.
type soakPoint struct {
	cycles     int
	rss        int64
	heap       float64 // go_memstats_heap_inuse_bytes
	goroutines float64
	cpu        time.Duration // the daemon's utime+stime so far
}

// soak runs the daemon polling every second against N repos for the last
// of -cycles cycles and reads RSS, heap and goroutines at each of them.
func soak(o options) error {
	ctx := context.Background()
	tmp, bin, done, err := workspace("ca-reconciler-soak-", o.keep)
	if err != nil {
		return err
	}
	defer done()
	began := time.Now()
	w, apiURL, stop, err := startWorld(bin, tmp, o.repos, 0)
	if err != nil {
		return err
	}
	defer stop()
	e := env{bin: bin, tmp: tmp, o: o}
	d, err := startDaemon(bin, filepath.Join(tmp, "daemon.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, filepath.Join(tmp, "cache"), "1s", false)...)
	if err != nil {
		return err
	}
	defer d.stop()
	var points []soakPoint
	failed := 0
	for cycles, mark := 0, 0; mark < len(o.cycles); {
		l, err := d.log.wait(logLine.cycleEnd, 10*time.Minute, d.proc)
		if err != nil {
			return fmt.Errorf("cycle %d: %w", cycles+1, err)
		}
		cycles++
		if l.Result != "success" {
			failed++
		}
		if cycles != o.cycles[mark] {
			continue
		}
		mark++
		r, err := rss(d.pid())
		if err != nil {
			return err
		}
		cpu, err := cpuTime(d.pid())
		if err != nil {
			return err
		}
		m, _, err := scrape(ctx, d.addr)
		if err != nil {
			return err
		}
		points = append(points, soakPoint{cycles: cycles, rss: r, heap: sum(m, "go_memstats_heap_inuse_bytes", ""), goroutines: sum(m, "go_goroutines", ""), cpu: cpu})
		fmt.Fprintf(os.Stderr, "bench soak: %d cycles: RSS %s\n", cycles, mib(r))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak\n\nWritten by `go run ./cmd/bench soak -repos %d -cycles %s` in %s: the daemon polling every second\n", o.repos, joinInts(o.cycles), time.Since(began).Round(time.Second))
	fmt.Fprintf(&b, "against %d repos in sync (the emulator and the daemon as separate processes); %d cycles did not succeed.\n\n", o.repos, failed)
	b.WriteString("| cycles | RSS | heap in use | goroutines | CPU per cycle since the row above |\n|---|---|---|---|---|\n")
	for i, p := range points {
		perCycle := "—"
		if i > 0 {
			prev := points[i-1]
			perCycle = ms((p.cpu - prev.cpu) / time.Duration(p.cycles-prev.cycles))
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f | %s |\n", p.cycles, mib(p.rss), mib(int64(p.heap)), p.goroutines, perCycle)
	}
	return os.WriteFile(o.out, []byte(b.String()), 0o644)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
