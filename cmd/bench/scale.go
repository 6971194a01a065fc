package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// sizeResult is what one size N measured.
type sizeResult struct {
	n            int
	firstCycle   time.Duration // the first cycle's own duration (cold clone, N writes)
	firstWrites  int
	startToFirst time.Duration // process start to the end of the first cycle
	// CPU per idle cycle in the first minute after the first cycle (the
	// build watcher lists the N builds it started on every poll, for
	// buildwatch.DefaultSkew) and after it (steady).
	firstMinuteCycles, idleCycles int
	firstMinuteCPU, idleCPU       time.Duration
	idleListRepos                 float64        // ListRepos calls per idle cycle
	idleWrites                    float64        // writes per idle cycle
	mem                           map[int]memory // by cycles done
	peakRSS                       int64          // VmHWM at the end of the polling run
	scrapeBytes                   int
	repoSeries                    int // series labelled with one repo in sync
	push                          []time.Duration
	pushBytes                     []int64
	pushWrites                    float64 // UpdateRepo calls per push
	cacheGrowth                   int64   // bytes per push, over every push
	cacheStart                    int64   // the cache's size before the pushes (the clone)
	// packedAt is the number of pushes after which the daemon last packed
	// the cache's loose objects (0: never), and packedGrowth the cache's
	// growth per push up to then: the cost amortized over whole packing
	// periods, whatever phase the run ends in. peakLoose is the most the
	// loose objects grew the cache before a packing.
	packedAt                int
	packedGrowth, peakLoose int64
	cache                   [2]cacheFiles
	big                     bigPush
	baseWall                time.Duration
	baseCalls, baseUp       int
}

// memory is a process's resident memory.
type memory struct{ rss, anon, file int64 }

// cacheFiles counts the clone cache's packfiles and loose objects.
type cacheFiles struct{ packs, loose int }

// bigPush is one push that changes many files: the daemon's phase timings
// for that cycle, from the ca_reconciler_reconcile_duration_seconds sums.
type bigPush struct {
	files, parsed, writes int
	phases                map[vocab.Phase]time.Duration
	bytes                 int64
}

// latencyResult is the push case against an API with latency.
type latencyResult struct {
	n                 int
	latency           time.Duration
	push              []time.Duration
	baseWall          time.Duration
	baseCalls, baseUp int
	skipped           string
}

type env struct {
	bin, tmp string
	o        options
}

func scale(o options) error {
	tmp, bin, done, err := workspace("ca-reconciler-bench-", o.keep)
	if err != nil {
		return err
	}
	defer done()
	if err := os.MkdirAll(o.profiles, 0o755); err != nil {
		return err
	}
	e := env{bin: bin, tmp: tmp, o: o}
	began := time.Now()
	var results []sizeResult
	for _, n := range o.sizes {
		fmt.Fprintf(os.Stderr, "bench: N=%d\n", n)
		r, err := e.size(n)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		results = append(results, r)
	}
	lat := latencyResult{n: o.latencyRepos, latency: o.latency}
	switch {
	case o.latency <= 0:
		lat.skipped = "-latency 0"
	case !emulatorSupports(bin, "latency"):
		lat.skipped = "this build's `ca-reconciler emulator` has no --latency flag yet"
	default:
		fmt.Fprintf(os.Stderr, "bench: latency %s, N=%d\n", o.latency, o.latencyRepos)
		if lat, err = e.latencyCase(o.latencyRepos, o.latency); err != nil {
			return fmt.Errorf("latency case: %w", err)
		}
	}
	chk := checkResult{o: o.check, skipped: "-check=false"}
	if o.checkOn {
		if chk, err = e.checkCase(o.check); err != nil {
			return fmt.Errorf("package check case: %w", err)
		}
	}
	con := consoleResult{o: o.console, skipped: "-console=false"}
	if o.consoleOn {
		if con, err = e.consoleCase(o.console); err != nil {
			return fmt.Errorf("Console edit case: %w", err)
		}
	}
	report := replaceSection(replaceSection(scaleReport(o, results, lat, time.Since(began)), checkReport(chk)), consoleReport(con))
	return os.WriteFile(o.out, []byte(report), 0o644)
}

// daemonArgs are the daemon's flags: its defaults except --interval (1s,
// the floor, in the polling run). --build-poll-interval keeps its 15s
// default, so the first minute lists the first cycle's N builds 4 times, as
// in production, not 60 (polling every second did).
func (e env) daemonArgs(apiURL, gitURL, cache, interval string, webhook bool) []string {
	args := []string{"--api", apiURL, "--git-url", gitURL, "--org", org, "--path", overlayDir,
		"--interval", interval, "--cache-dir", cache, "--mode", "apply"}
	if webhook {
		args = append(args, "--webhook-secret-file", filepath.Join(e.tmp, "webhook-secret"))
	}
	return args
}

var daemonEnv = []string{"CA_RECONCILER_TOKEN=" + benchToken}

// steadyAfter is how long after the first cycle the build watcher still
// lists the builds that cycle started (buildwatch.DefaultSkew, one minute,
// and a margin): idle CPU is measured after it.
const steadyAfter = 70 * time.Second

// bigPushFiles is how many files the big push changes (all of them below).
const bigPushFiles = 1000

func (e env) size(n int) (sizeResult, error) {
	ctx := context.Background()
	res := sizeResult{n: n, mem: map[int]memory{}}
	dir := filepath.Join(e.tmp, fmt.Sprintf("n%d", n))
	if err := os.WriteFile(filepath.Join(e.tmp, "webhook-secret"), []byte(benchSecret), 0o600); err != nil {
		return res, err
	}
	w, apiURL, stop, err := startWorld(e.bin, dir, n, 0)
	if err != nil {
		return res, err
	}
	defer stop()
	cache := filepath.Join(dir, "cache")
	if err := e.pollRun(ctx, &res, w, apiURL, cache); err != nil {
		return res, err
	}
	if err := e.pushRun(ctx, &res, w, apiURL, cache); err != nil {
		return res, err
	}
	// The baseline for the same push: apply every file.
	if _, err := w.change(2 % n); err != nil {
		return res, err
	}
	res.baseWall, res.baseCalls, res.baseUp, err = w.baseline(ctx, apiURL)
	return res, err
}

// marks are the cycles after which memory is read at size n: -cycles, and
// -long for the largest size.
func (e env) marks(n int) []int {
	m := append([]int(nil), e.o.cycles...)
	if e.o.long > m[len(m)-1] && n == e.o.sizes[len(e.o.sizes)-1] {
		m = append(m, e.o.long)
	}
	return m
}

// pollRun runs the daemon polling every second: the first cycle clones and
// writes every repo; then idle cycles, up to the last mark.
func (e env) pollRun(ctx context.Context, res *sizeResult, w *world, apiURL, cache string) (err error) {
	n := res.n
	start := time.Now()
	d, err := startDaemon(e.bin, filepath.Join(w.dir, "daemon-poll.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, cache, "1s", false)...)
	if err != nil {
		return err
	}
	defer d.stop()
	first, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc)
	if err != nil {
		return fmt.Errorf("first cycle: %w", err)
	}
	firstDone := time.Now()
	res.startToFirst = firstDone.Sub(start)
	res.firstCycle = time.Duration(first.Duration * float64(time.Second))
	res.firstWrites = first.Writes
	if first.Result != "success" || first.Writes != n {
		return fmt.Errorf("first cycle: result %s, %d writes, want success and %d", first.Result, first.Writes, n)
	}
	if res.mem[1], err = memOf(d.pid()); err != nil {
		return err
	}
	m0, _, err := scrape(ctx, d.addr)
	if err != nil {
		return err
	}
	marks := e.marks(n)
	last := marks[len(marks)-1]
	cpu, err := cpuTime(d.pid())
	if err != nil {
		return err
	}
	// CPU is read at the end of cycle 1 (the first minute starts), at the
	// end of the first cycle past steadyAfter, and at the end.
	cpuFirst, cpuSteady, cSteady := cpu, time.Duration(0), 0
	for cycles := 1; cycles < last; {
		if _, err := d.log.wait(logLine.cycleEnd, 5*time.Minute, d.proc); err != nil {
			return fmt.Errorf("idle cycle %d: %w", cycles+1, err)
		}
		cycles++
		if cSteady == 0 && time.Since(firstDone) >= steadyAfter {
			if cpuSteady, err = cpuTime(d.pid()); err != nil {
				return err
			}
			cSteady = cycles
			res.firstMinuteCycles, res.firstMinuteCPU = cycles-1, (cpuSteady-cpuFirst)/time.Duration(cycles-1)
		}
		if slices.Contains(marks, cycles) {
			if res.mem[cycles], err = memOf(d.pid()); err != nil {
				return err
			}
		}
		if cycles%100 == 0 {
			fmt.Fprintf(os.Stderr, "bench: N=%d: %d of %d cycles\n", n, cycles, last)
		}
	}
	end, err := cpuTime(d.pid())
	if err != nil {
		return err
	}
	switch {
	case cSteady > 0 && last > cSteady:
		res.idleCycles, res.idleCPU = last-cSteady, (end-cpuSteady)/time.Duration(last-cSteady)
	case last > 1: // the run ended within the first minute
		res.firstMinuteCycles, res.firstMinuteCPU = last-1, (end-cpuFirst)/time.Duration(last-1)
	}
	if res.peakRSS, err = procStatus(d.pid(), "VmHWM"); err != nil {
		return err
	}
	m1, size, err := scrape(ctx, d.addr)
	if err != nil {
		return err
	}
	res.scrapeBytes = size
	if done := sum(m1, "ca_reconciler_reconciles_total", "") - sum(m0, "ca_reconciler_reconciles_total", ""); done > 0 {
		res.idleListRepos = (sum(m1, "ca_reconciler_api_requests_total", `ListRepos"`) - sum(m0, "ca_reconciler_api_requests_total", `ListRepos"`)) / done
		res.idleWrites = (sum(m1, "ca_reconciler_writes_total", "") - sum(m0, "ca_reconciler_writes_total", "")) / done
	}
	res.repoSeries = series(m1, "ca_reconciler_", `repo="`+repoName(n-1)+`"`)
	// Idle profiles: CPU over idle cycles, then the heap.
	if err := profile(ctx, d.addr, fmt.Sprintf("profile?seconds=%d", int(idleProfile.Seconds())), e.profileFile(n, "idle.cpu")); err != nil {
		return err
	}
	return profile(ctx, d.addr, "heap", e.profileFile(n, "idle.heap"))
}

// idleProfile is how long the idle CPU profile runs.
const idleProfile = 20 * time.Second

func (e env) profileFile(n int, kind string) string {
	return filepath.Join(e.o.profiles, fmt.Sprintf("n%d-%s.pb.gz", n, kind))
}

// pushRun runs the daemon with webhooks only (no interval cycle during the
// pushes) on the warm cache: one-file pushes, a profiled one, and one that
// changes bigPushFiles files.
func (e env) pushRun(ctx context.Context, res *sizeResult, w *world, apiURL, cache string) error {
	n := res.n
	d, err := startDaemon(e.bin, filepath.Join(w.dir, "daemon-push.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, cache, "1h", true)...)
	if err != nil {
		return err
	}
	defer d.stop()
	if _, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc); err != nil {
		return fmt.Errorf("warm start: %w", err)
	}
	cacheBefore := du(cache)
	res.cacheStart = cacheBefore
	if res.cache[0], err = countCache(cache); err != nil {
		return err
	}
	p0, _, err := scrape(ctx, d.addr)
	if err != nil {
		return err
	}
	loose, packedSize := res.cache[0].loose, cacheBefore
	for p := 0; p < e.o.pushes; p++ {
		lat, bytes, err := e.push(ctx, w, d, (p*7919+13)%n)
		if err != nil {
			return fmt.Errorf("push %d: %w", p, err)
		}
		res.push = append(res.push, lat)
		res.pushBytes = append(res.pushBytes, bytes)
		files, err := countCache(cache)
		if err != nil {
			return err
		}
		size := du(cache)
		if files.loose < loose { // the loose objects were packed
			res.packedAt, res.packedGrowth = p+1, (size-cacheBefore)/int64(p+1)
			packedSize = size
		}
		loose = files.loose
		res.peakLoose = max(res.peakLoose, size-packedSize)
	}
	p1, _, err := scrape(ctx, d.addr)
	if err != nil {
		return err
	}
	if e.o.pushes > 0 {
		res.pushWrites = (sum(p1, "ca_reconciler_api_requests_total", `UpdateRepo"`) - sum(p0, "ca_reconciler_api_requests_total", `UpdateRepo"`)) / float64(e.o.pushes)
		res.cacheGrowth = (du(cache) - cacheBefore) / int64(e.o.pushes)
	}
	if res.cache[1], err = countCache(cache); err != nil {
		return err
	}
	// Push profiles: a CPU profile over one push cycle, then the heap.
	errc := make(chan error, 1)
	go func() { errc <- profile(ctx, d.addr, "profile?seconds=3", e.profileFile(n, "push.cpu")) }()
	time.Sleep(200 * time.Millisecond)
	if _, _, err := e.push(ctx, w, d, 1); err != nil {
		return fmt.Errorf("profiled push: %w", err)
	}
	if err := <-errc; err != nil {
		return err
	}
	if err := profile(ctx, d.addr, "heap", e.profileFile(n, "push.heap")); err != nil {
		return err
	}
	res.big, err = e.bigPush(ctx, w, d, min(n, bigPushFiles))
	return err
}

// bigPush changes files 0..k-1 in one commit, triggers the webhook and
// reads the daemon's phase timings of that cycle.
func (e env) bigPush(ctx context.Context, w *world, d *daemon, k int) (bigPush, error) {
	b := bigPush{files: k, phases: map[vocab.Phase]time.Duration{}}
	d.log.drop()
	if err := w.changeMany(k); err != nil {
		return b, err
	}
	m0, _, err := scrape(ctx, d.addr)
	if err != nil {
		return b, err
	}
	b0 := w.served.Load()
	if err := postHook(ctx, d.addr); err != nil {
		return b, err
	}
	parsed, err := d.log.wait(func(l logLine) bool { return l.Msg == "revision parsed" }, 10*time.Minute, d.proc)
	if err != nil {
		return b, fmt.Errorf("the big push's parse: %w", err)
	}
	b.parsed = parsed.FilesParsed
	end, err := d.log.wait(logLine.cycleEnd, 10*time.Minute, d.proc)
	if err != nil {
		return b, fmt.Errorf("the big push's cycle: %w", err)
	}
	b.writes = end.Writes
	b.bytes = w.served.Load() - b0
	m1, _, err := scrape(ctx, d.addr)
	if err != nil {
		return b, err
	}
	if c := sum(m1, "ca_reconciler_reconciles_total", "") - sum(m0, "ca_reconciler_reconciles_total", ""); c != 1 {
		return b, fmt.Errorf("the big push ran %v cycles, want 1", c)
	}
	for _, p := range vocab.Phases() {
		key := fmt.Sprintf(`ca_reconciler_reconcile_duration_seconds_sum{phase=%q}`, p)
		b.phases[p] = time.Duration((m1[key] - m0[key]) * float64(time.Second))
	}
	time.Sleep(1100 * time.Millisecond) // the trigger spacing, as after every push
	return b, nil
}

// countCache counts the packfiles and loose objects of the clone cache.
func countCache(cache string) (cacheFiles, error) {
	var c cacheFiles
	err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		parent := filepath.Base(filepath.Dir(p))
		switch {
		case parent == "pack" && strings.HasSuffix(p, ".pack"):
			c.packs++
		case len(parent) == 2 && filepath.Base(filepath.Dir(filepath.Dir(p))) == "objects":
			c.loose++
		}
		return nil
	})
	return c, err
}

// push changes repo i's file, triggers the webhook and waits for the write:
// it returns push→write (from the push landing to the daemon's "repo
// written" line) and the bytes the Git server sent for the cycle.
func (e env) push(ctx context.Context, w *world, d *daemon, i int) (time.Duration, int64, error) {
	d.log.drop()
	if _, err := w.change(i); err != nil {
		return 0, 0, err
	}
	b0 := w.served.Load()
	t0 := time.Now()
	if err := postHook(ctx, d.addr); err != nil {
		return 0, 0, err
	}
	l, err := d.log.wait(func(l logLine) bool { return l.Msg == "repo written" && l.Repo == repoName(i) }, 5*time.Minute, d.proc)
	if err != nil {
		return 0, 0, fmt.Errorf("waiting for the write of %s: %w", repoName(i), err)
	}
	lat := time.Since(t0)
	if t := l.time(); !t.IsZero() && t.Sub(t0) < lat && t.After(t0) {
		lat = t.Sub(t0) // the daemon's own timestamp (ms), not the bench's polling delay
	}
	if _, err := d.log.wait(logLine.cycleEnd, 5*time.Minute, d.proc); err != nil {
		return 0, 0, err
	}
	bytes := w.served.Load() - b0
	// Webhook-triggered cycles are spaced by up to a second; wait it out so
	// each push gets a cycle of its own.
	time.Sleep(1100 * time.Millisecond)
	return lat, bytes, nil
}

func (e env) latencyCase(n int, latency time.Duration) (latencyResult, error) {
	ctx := context.Background()
	res := latencyResult{n: n, latency: latency}
	dir := filepath.Join(e.tmp, fmt.Sprintf("latency-n%d", n))
	w, apiURL, stop, err := startWorld(e.bin, dir, n, latency)
	if err != nil {
		return res, err
	}
	defer stop()
	d, err := startDaemon(e.bin, filepath.Join(dir, "daemon.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, filepath.Join(dir, "cache"), "1h", true)...)
	if err != nil {
		return res, err
	}
	defer d.stop()
	if _, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc); err != nil {
		return res, fmt.Errorf("first cycle: %w", err)
	}
	for p := 0; p < e.o.pushes; p++ {
		lat, _, err := e.push(ctx, w, d, (p*7919+13)%n)
		if err != nil {
			return res, fmt.Errorf("push %d: %w", p, err)
		}
		res.push = append(res.push, lat)
	}
	if _, err := w.change(2 % n); err != nil {
		return res, err
	}
	res.baseWall, res.baseCalls, res.baseUp, err = w.baseline(ctx, apiURL)
	return res, err
}

// du is the size of the files under dir.
func du(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// pct is the q-quantile (nearest rank) of durations.
func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	i := int(q*float64(len(s))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func mean(b []int64) int64 {
	if len(b) == 0 {
		return 0
	}
	var t int64
	for _, v := range b {
		t += v
	}
	return t / int64(len(b))
}
