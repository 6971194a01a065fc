package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
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
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go run ./cmd/bench -sizes %s -cycles %s -long %d -pushes %d -latency %s -latency-repos %d` (%s, %s/%s, %d CPUs, %s), in %s.\n",
		joinInts(sizes), joinInts(o.cycles), o.long, o.pushes, o.latency, o.latencyRepos, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
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
	row("daemon CPU per idle cycle, first minute (the build watcher lists the first cycle's N builds every 15 s)", func(r sizeResult) string {
		return fmt.Sprintf("%s (over %d cycles)", ms(r.firstMinuteCPU), r.firstMinuteCycles)
	})
	row("daemon CPU per idle cycle, after the first minute", func(r sizeResult) string {
		if r.idleCycles == 0 {
			return "not reached"
		}
		return fmt.Sprintf("%s (over %d cycles)", ms(r.idleCPU), r.idleCycles)
	})
	row("ListRepos calls per idle cycle", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.idleListRepos) })
	row("writes per idle cycle", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.idleWrites) })
	row(fmt.Sprintf("one-file push → write, p50 (webhook, %d pushes)", o.pushes), func(r sizeResult) string { return ms(pct(r.push, 0.5)) })
	row("one-file push → write, p90 (webhook)", func(r sizeResult) string { return ms(pct(r.push, 0.9)) })
	row("UpdateRepo calls per one-file push", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.pushWrites) })
	row("bytes fetched per push (Git server → daemon)", func(r sizeResult) string { return kb(mean(r.pushBytes)) })
	row("clone cache before the pushes", func(r sizeResult) string { return kb(r.cacheStart) })
	row(fmt.Sprintf("clone cache growth per push, over %d pushes", o.pushes), func(r sizeResult) string { return kb(r.cacheGrowth) })
	row("clone cache growth per push, up to the last packing of loose objects", func(r sizeResult) string {
		if r.packedAt == 0 {
			return "no packing"
		}
		return fmt.Sprintf("%s (%d pushes)", kb(r.packedGrowth), r.packedAt)
	})
	row("most the loose objects grew the cache between packings", func(r sizeResult) string { return kb(r.peakLoose) })
	row("cache packfiles, loose objects: before → after the pushes", func(r sizeResult) string {
		return fmt.Sprintf("%d, %d → %d, %d", r.cache[0].packs, r.cache[0].loose, r.cache[1].packs, r.cache[1].loose)
	})
	row("push changing 1,000 files (all below 1,000): files parsed, repos written", func(r sizeResult) string {
		return fmt.Sprintf("%d of %d, %d", r.big.parsed, r.big.files, r.big.writes)
	})
	row("that cycle's parse + plan (daemon's phase timings)", func(r sizeResult) string {
		return fmt.Sprintf("%s + %s = %s", ms(r.big.phases[vocab.PhaseParse]), ms(r.big.phases[vocab.PhasePlan]), ms(r.big.phases[vocab.PhaseParse]+r.big.phases[vocab.PhasePlan]))
	})
	row("that cycle's fetch, read live, apply; bytes fetched", func(r sizeResult) string {
		return fmt.Sprintf("%s, %s, %s; %s", ms(r.big.phases[vocab.PhaseFetch]), ms(r.big.phases[vocab.PhaseReadLive]), ms(r.big.phases[vocab.PhaseApply]), kb(r.big.bytes))
	})
	for _, c := range allMarks(o) {
		row(fmt.Sprintf("RSS after %d cycles (anon + file)", c), func(r sizeResult) string {
			m, ok := r.mem[c]
			if !ok {
				return "—"
			}
			return fmt.Sprintf("%s (%.1f + %.1f)", mib(m.rss), float64(m.anon)/(1<<20), float64(m.file)/(1<<20))
		})
	}
	row("peak RSS (VmHWM) of the polling run", func(r sizeResult) string { return mib(r.peakRSS) })
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
	big := rs[len(rs)-1]
	lastMark := func(r sizeResult) int {
		m := 0
		for c := range r.mem {
			m = max(m, c)
		}
		return m
	}
	if r, ok := by[1000]; ok {
		fmt.Fprintf(&b, "| daemon CPU per idle cycle ≤ 15 ms at N = 1,000 | %s | %s |\n", ms(r.idleCPU), cpuVerdict(r, 15))
	}
	if r, ok := by[5000]; ok {
		fmt.Fprintf(&b, "| daemon CPU per idle cycle ≤ 60 ms at N = 5,000 | %s | %s |\n", ms(r.idleCPU), cpuVerdict(r, 60))
		fmt.Fprintf(&b, "| one-file push → write p90 ≤ 0.5 s through the webhook at N = 5,000 | %s | %s |\n", ms(pct(r.push, 0.9)), verdict(float64(pct(r.push, 0.9))/1e6, 500, "ms"))
		l := lastMark(r)
		fmt.Fprintf(&b, "| RSS ≤ 64 MiB at N = 5,000 (after %d cycles) | %s | %s |\n", l, mib(r.mem[l].rss), verdict(float64(r.mem[l].rss)/(1<<20), 64, "MiB"))
		fmt.Fprintf(&b, "| a scrape ≤ 1 MB at N = 5,000 | %s | %s |\n", kb(int64(r.scrapeBytes)), verdict(float64(r.scrapeBytes)/1000, 1000, "KB"))
	}
	fmt.Fprintf(&b, "| bytes fetched for a one-file push ≤ 10 KB (N = %d) | %s | %s |\n", big.n, kb(mean(big.pushBytes)), verdict(float64(mean(big.pushBytes))/1000, 10, "KB"))
	packs := big.cache[1].packs - big.cache[0].packs
	growth, over := big.cacheGrowth, fmt.Sprintf("over %d pushes", o.pushes)
	if big.packedAt > 0 {
		growth, over = big.packedGrowth, fmt.Sprintf("over the %d pushes up to the last packing of loose objects", big.packedAt)
	}
	cacheVerdict := fmt.Sprintf("%.1f%% of the clone's %s per push; %d packfile(s) added in %d pushes; loose objects grew it by at most %s between packings",
		100*float64(growth)/float64(max(big.cacheStart, 1)), kb(big.cacheStart), packs, o.pushes, kb(big.peakLoose))
	if growth*10 > big.cacheStart || packs >= o.pushes {
		cacheVerdict = "missed: " + cacheVerdict
	} else {
		cacheVerdict = "met: " + cacheVerdict
	}
	fmt.Fprintf(&b, "| the cache does not grow by a pack per push (N = %d, %s) | %s per push | %s |\n", big.n, over, kb(growth), cacheVerdict)
	if l := lastMark(big); l > 100 {
		if m100, ok := big.mem[100]; ok {
			grow := float64(big.mem[l].rss-m100.rss) / (1 << 20)
			fmt.Fprintf(&b, "| RSS flat over %d cycles (N = %d, after 100 → after %d cycles) | %+.1f MiB | %s |\n", l, big.n, l, grow, verdict(grow, 4, "MiB (allowing 4 MiB)"))
		}
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
	for _, r := range rs {
		if r.big.files < bigPushFiles {
			continue
		}
		pp := r.big.phases[vocab.PhaseParse] + r.big.phases[vocab.PhasePlan]
		fmt.Fprintf(&b, "| parse + plan of 1,000 changed files inside a cycle ≤ 100 ms (N = %d) | %s | %s |\n", r.n, ms(pp), verdict(float64(pp)/1e6, 100, "ms"))
	}

	b.WriteString("\n## Profiles\n\n")
	fmt.Fprintf(&b, "In `%s/` (not committed), from the daemon's `--pprof` endpoint, for each N: `nN-idle.cpu.pb.gz` (%s of idle cycles, at the end\n", o.profiles, idleProfile)
	b.WriteString("of the polling run), `nN-idle.heap.pb.gz`, `nN-push.cpu.pb.gz` (3 s around one push cycle), `nN-push.heap.pb.gz`. Read them with\n")
	b.WriteString("`go tool pprof -top FILE`; their top lines, for the sizes the targets name, follow.\n")
	type quoted struct {
		n     int
		kinds []string
	}
	quote := []quoted{{big.n, []string{"idle.cpu", "idle.heap", "push.cpu"}}}
	if _, ok := by[1000]; ok && big.n != 1000 {
		quote = append([]quoted{{1000, []string{"idle.cpu"}}}, quote...)
	}
	what := map[string]string{"idle.cpu": "idle CPU", "idle.heap": "idle heap in use", "push.cpu": "push CPU"}
	for _, q := range quote {
		for _, kind := range q.kinds {
			file := filepath.Join(o.profiles, fmt.Sprintf("n%d-%s.pb.gz", q.n, kind))
			fmt.Fprintf(&b, "\n### N = %d, %s (`%s`)\n\n```\n%s```\n", q.n, what[kind], filepath.Base(file), pprofTop(file, strings.HasSuffix(kind, "heap")))
		}
	}
	b.WriteString(microLine + " (`go test -bench . -benchmem ./overlay/ ./reconciler/ ./chainguard/`) cover parsing, planning, recording and listing.\n")
	notes, _ := os.ReadFile(o.notes) // none: no notes
	return withNotes(b.String(), notes)
}

// microLine starts the report's last measured line; the hand-written notes
// (cmd/bench/notes.md) follow it.
const microLine = "\nMicro-benchmarks"

// withNotes returns report with notes in place of whatever followed its
// micro-benchmarks line (notes appended when it has none).
func withNotes(report string, notes []byte) string {
	if i := strings.Index(report, microLine); i >= 0 {
		if j := strings.IndexByte(report[i+1:], '\n'); j >= 0 {
			report = report[:i+1+j+1]
		}
	}
	if len(notes) == 0 {
		return report
	}
	return report + "\n" + string(notes)
}

// notesOnly puts the notes (o.notes) in the report (o.out) in place of the
// ones it has, measuring nothing: the notes are read from one file.
func notesOnly(o options) error {
	old, err := os.ReadFile(o.out)
	if err != nil {
		return fmt.Errorf("reading the report: %w", err)
	}
	notes, err := os.ReadFile(o.notes)
	if err != nil {
		return fmt.Errorf("reading the notes: %w", err)
	}
	return os.WriteFile(o.out, []byte(withNotes(string(old), notes)), 0o644)
}

// cpuVerdict judges the idle CPU after the first minute.
func cpuVerdict(r sizeResult, want float64) string {
	if r.idleCycles == 0 {
		return "not measured: the run ended within the first minute (raise -cycles)"
	}
	return verdict(float64(r.idleCPU)/1e6, want, "ms")
}

// allMarks are the cycles after which some size read its memory.
func allMarks(o options) []int {
	m := append([]int(nil), o.cycles...)
	if o.long > m[len(m)-1] {
		m = append(m, o.long)
	}
	return m
}

// boring says whether a profile line is one every profile has: the cycle's
// own frames.
func boring(l string) bool {
	for _, f := range []string{"(*Reconciler).Run", "(*Reconciler).RunOnce", "(*Reconciler).cycle", "(*Watcher).Run"} {
		if strings.HasSuffix(l, f) {
			return true
		}
	}
	return false
}

// pprofTop is the top of a profile as go tool pprof prints it: the flat
// top 12, then the 12 heaviest lines of this module by cumulative value.
func pprofTop(file string, heap bool) string {
	args := []string{"tool", "pprof", "-top", "-nodecount=12"}
	if heap {
		args = append(args, "-sample_index=inuse_space")
	}
	flat, err := exec.Command("go", append(args, file)...).Output()
	if err != nil {
		return fmt.Sprintf("(go tool pprof %s: %v)\n", file, err)
	}
	var out strings.Builder
	for _, l := range strings.Split(string(flat), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") || l == "" {
			continue
		}
		out.WriteString(l + "\n")
	}
	cum, err := exec.Command("go", append(append(args[:len(args):len(args)], "-cum", "-nodecount=400"), file)...).Output()
	if err != nil {
		return out.String()
	}
	out.WriteString("... heaviest lines of ca-reconciler's own packages, by cumulative:\n")
	k := 0
	for _, l := range strings.Split(string(cum), "\n") {
		if k < 12 && strings.Contains(l, "ca-reconciler/ca-reconciler/") && !boring(l) {
			out.WriteString(l + "\n")
			k++
		}
	}
	return out.String()
}

func mapInts(v []int, f func(int) string) []string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = f(n)
	}
	return out
}
