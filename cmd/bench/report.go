package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func kb(b int64) string { return fmt.Sprintf("%.1f KB", float64(b)/1000) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// verdict says whether got meets a target of at most want, or by how much
// it misses.
func verdict(got, want float64, unit string) string {
	if got <= want {
		return "met"
	}
	return fmt.Sprintf("missed by %.0f %s (%.1f×)", got-want, unit, got/want)
}

func scaleReport(o options, rs []sizeResult, lat latencyResult, took time.Duration) string {
	var b strings.Builder
	sizes := make([]int, len(rs))
	for i, r := range rs {
		sizes[i] = r.n
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go run ./cmd/bench -sizes %s -cycles %s -pushes %d -latency %s -latency-repos %d` (%s, %s/%s, %d CPUs, %s), in %s.\n",
		joinInts(sizes), joinInts(o.cycles), o.pushes, o.latency, o.latencyRepos, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
	b.WriteString(`
The daemon (` + "`ca-reconciler run`" + `) and the Chainguard API emulator (` + "`ca-reconciler emulator`" + `) run as separate
processes of the real binary and talk over loopback gRPC; the daemon reads a bare Git repository over HTTP from
` + "`git http-backend`" + ` behind a proxy that counts the bytes it sends. N repos, one overlay file each. Counts (calls, writes,
bytes, series) are exact; every time is **load-sensitive** (a 2-core machine shared with other work moves them).

For each N the daemon runs twice: polling every second (the first cycle clones and writes all N repos, then idle
cycles: CPU from /proc/PID/stat utime+stime over the idle cycles, RSS from /proc/PID/status VmRSS), then with the
webhook only and a warm cache (one-file pushes: from the push landing to the daemon's "repo written" log line;
bytes the Git server sent for the cycle; growth of the clone cache). Baseline: the CI job teams run today, which
applies every file on every push (` + "`chainctl image repo build apply -f FILE`" + ` per file: resolve the org, list repos, then
read and write each repo), against the same emulator.

`)
	b.WriteString("## Scale\n\n| measure | " + strings.Join(mapInts(sizes, func(n int) string { return fmt.Sprintf("N = %d", n) }), " | ") + " |\n")
	b.WriteString("|---|" + strings.Repeat("---|", len(rs)) + "\n")
	row := func(name string, f func(r sizeResult) string) {
		cells := make([]string, len(rs))
		for i, r := range rs {
			cells[i] = f(r)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, strings.Join(cells, " | "))
	}
	row("first cycle: cold clone, N writes (its own duration)", func(r sizeResult) string { return secs(r.firstCycle) })
	row("first cycle: writes", func(r sizeResult) string { return fmt.Sprint(r.firstWrites) })
	row("first cycle per repo", func(r sizeResult) string { return ms(r.firstCycle / time.Duration(r.n)) })
	row("process start → first cycle done", func(r sizeResult) string { return secs(r.startToFirst) })
	row("daemon CPU per idle cycle", func(r sizeResult) string { return fmt.Sprintf("%s (over %d cycles)", ms(r.idleCPU), r.idleCycles) })
	row("ListRepos calls per idle cycle", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.idleListRepos) })
	row("writes per idle cycle", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.idleWrites) })
	row("one-file push → write, p50 (webhook)", func(r sizeResult) string { return ms(pct(r.push, 0.5)) })
	row("one-file push → write, p90 (webhook)", func(r sizeResult) string { return ms(pct(r.push, 0.9)) })
	row("UpdateRepo calls per one-file push", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.pushWrites) })
	row("bytes fetched per push (Git server → daemon)", func(r sizeResult) string { return kb(mean(r.pushBytes)) })
	row("clone cache growth per push", func(r sizeResult) string { return kb(r.cacheGrowth) })
	for _, c := range o.cycles {
		row(fmt.Sprintf("RSS after %d cycles", c), func(r sizeResult) string { return mib(r.rss[c]) })
	}
	row("one /metrics scrape", func(r sizeResult) string { return kb(int64(r.scrapeBytes)) })
	row("metric series of one repo in sync", func(r sizeResult) string { return fmt.Sprint(r.repoSeries) })

	b.WriteString("\n## A push that changes one file: baseline and ca-reconciler\n\n| N | measure | baseline | ca-reconciler |\n|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d | repo writes (UpdateRepo) | %d | %.0f |\n", r.n, r.baseUp, r.pushWrites)
		fmt.Fprintf(&b, "| %d | API calls | %d | ≈ %.0f (ListRepos, and the write: a read and UpdateRepo) |\n", r.n, r.baseCalls, 2*r.pushWrites+1)
		fmt.Fprintf(&b, "| %d | wall time (load-sensitive) | %s | %s (p50 push → write) |\n", r.n, ms(r.baseWall), ms(pct(r.push, 0.5)))
	}

	fmt.Fprintf(&b, "\n## The same push with %s of API latency\n\n", lat.latency)
	if lat.skipped != "" {
		fmt.Fprintf(&b, "Not run: %s.\n", lat.skipped)
	} else {
		fmt.Fprintf(&b, "Every API call of the emulator waits %s (`ca-reconciler emulator --latency %s`), as a round trip to the real API\nwould; N = %d.\n\n", lat.latency, lat.latency, lat.n)
		b.WriteString("| measure | baseline | ca-reconciler |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| repo writes | %d | 1 |\n| API calls | %d | ≈ 3 |\n", lat.baseUp, lat.baseCalls)
		fmt.Fprintf(&b, "| push → write p50 (load-sensitive) | %s (the whole job) | %s |\n", secs(lat.baseWall), ms(pct(lat.push, 0.5)))
		fmt.Fprintf(&b, "| push → write p90 (load-sensitive) | | %s |\n", ms(pct(lat.push, 0.9)))
	}

	b.WriteString("\n## Issue 14's targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	by := map[int]sizeResult{}
	for _, r := range rs {
		by[r.n] = r
	}
	last := o.cycles[len(o.cycles)-1]
	if r, ok := by[1000]; ok {
		fmt.Fprintf(&b, "| daemon CPU per idle cycle ≤ 15 ms at N = 1,000 | %s | %s |\n", ms(r.idleCPU), verdict(float64(r.idleCPU)/1e6, 15, "ms"))
	}
	if r, ok := by[5000]; ok {
		fmt.Fprintf(&b, "| daemon CPU per idle cycle ≤ 60 ms at N = 5,000 | %s | %s |\n", ms(r.idleCPU), verdict(float64(r.idleCPU)/1e6, 60, "ms"))
		fmt.Fprintf(&b, "| one-file push → write p90 ≤ 0.5 s through the webhook at N = 5,000 | %s | %s |\n", ms(pct(r.push, 0.9)), verdict(float64(pct(r.push, 0.9))/1e6, 500, "ms"))
		fmt.Fprintf(&b, "| RSS ≤ 64 MiB at N = 5,000 (after %d cycles) | %s | %s |\n", last, mib(r.rss[last]), verdict(float64(r.rss[last])/(1<<20), 64, "MiB"))
		fmt.Fprintf(&b, "| a scrape ≤ 1 MB at N = 5,000 | %s | %s |\n", kb(int64(r.scrapeBytes)), verdict(float64(r.scrapeBytes)/1000, 1000, "KB"))
	}
	big := rs[len(rs)-1]
	fmt.Fprintf(&b, "| bytes fetched for a one-file push ≤ 10 KB (N = %d) | %s | %s |\n", big.n, kb(mean(big.pushBytes)), verdict(float64(mean(big.pushBytes))/1000, 10, "KB"))
	fmt.Fprintf(&b, "| the cache does not grow by a pack per push (N = %d) | %s per push | %s |\n", big.n, kb(big.cacheGrowth), verdict(float64(big.cacheGrowth)/1000, 10, "KB"))
	if len(o.cycles) > 1 {
		first := o.cycles[0]
		grow := float64(big.rss[last]-big.rss[first]) / (1 << 20)
		fmt.Fprintf(&b, "| RSS flat over the cycles (N = %d, %d → %d cycles) | %+.1f MiB | %s |\n", big.n, first, last, grow, verdict(grow, 4, "MiB (allowing 4 MiB)"))
	}
	if len(rs) > 1 {
		a, z := rs[0], rs[len(rs)-1]
		pa, pz := a.firstCycle.Seconds()/float64(a.n), z.firstCycle.Seconds()/float64(z.n)
		lin := "met"
		if pz/pa > 1.25 {
			lin = fmt.Sprintf("missed: the time per repo grows %.1f× from N = %d to %d (allowing 1.25×)", pz/pa, a.n, z.n)
		}
		fmt.Fprintf(&b, "| first full cycle linear in N | %s per repo at %d, %s at %d | %s |\n", ms(a.firstCycle/time.Duration(a.n)), a.n, ms(z.firstCycle/time.Duration(z.n)), z.n, lin)
	}
	b.WriteString("| parse + plan of 1,000 changed files ≤ 100 ms | not measured here: `go test -bench . ./reconciler/` | |\n")

	b.WriteString("\n## Profiles\n\n")
	fmt.Fprintf(&b, "In `%s/`, from the daemon's `--pprof` endpoint, for each N: `nN-idle.cpu.pb.gz` (5 s of idle cycles), `nN-idle.heap.pb.gz`,\n", o.profiles)
	b.WriteString("`nN-push.cpu.pb.gz` (3 s around one push cycle), `nN-push.heap.pb.gz`. Read them with `go tool pprof -top FILE`.\n")
	b.WriteString("\nMicro-benchmarks (`go test -bench . -benchmem ./overlay/ ./reconciler/`) cover parsing and planning.\n")
	if notes, err := os.ReadFile(o.notes); err == nil {
		b.WriteString("\n")
		b.Write(notes)
	}
	return b.String()
}

func mapInts(v []int, f func(int) string) []string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = f(n)
	}
	return out
}
