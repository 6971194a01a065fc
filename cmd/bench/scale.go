package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// sizeResult is what one size N measured.
type sizeResult struct {
	n                 int
	firstCycle        time.Duration // the first cycle's own duration (cold clone, N writes)
	firstWrites       int
	startToFirst      time.Duration // process start to the end of the first cycle
	idleCycles        int
	idleCPU           time.Duration // per idle cycle
	idleListRepos     float64       // ListRepos calls per idle cycle
	idleWrites        float64       // writes per idle cycle
	rss               map[int]int64 // by cycles done
	scrapeBytes       int
	repoSeries        int // series labelled with one repo in sync
	push              []time.Duration
	pushBytes         []int64
	pushWrites        float64 // UpdateRepo calls per push
	cacheGrowth       int64   // bytes per push
	baseWall          time.Duration
	baseCalls, baseUp int
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
	tmp, err := os.MkdirTemp("", "ca-reconciler-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	}
	bin, err := buildBinary(tmp)
	if err != nil {
		return err
	}
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
	report := replaceSection(scaleReport(o, results, lat, time.Since(began)), checkReport(chk))
	return os.WriteFile(o.out, []byte(report), 0o644)
}

func (e env) daemonArgs(apiURL, gitURL, cache, interval string, webhook bool) []string {
	args := []string{"--api", apiURL, "--git-url", gitURL, "--org", org, "--path", overlayDir,
		"--interval", interval, "--cache-dir", cache, "--mode", "apply", "--build-poll-interval", "1s"}
	if webhook {
		args = append(args, "--webhook-secret-file", filepath.Join(e.tmp, "webhook-secret"))
	}
	return args
}

var daemonEnv = []string{"CA_RECONCILER_TOKEN=" + benchToken}

func (e env) size(n int) (sizeResult, error) {
	ctx := context.Background()
	res := sizeResult{n: n, rss: map[int]int64{}}
	dir := filepath.Join(e.tmp, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(e.tmp, "webhook-secret"), []byte(benchSecret), 0o600); err != nil {
		return res, err
	}
	w, err := newWorld(dir, n)
	if err != nil {
		return res, err
	}
	defer w.close()
	emu, apiURL, err := startEmulator(e.bin, w.seed, filepath.Join(dir, "emulator.log"), 0)
	if err != nil {
		return res, err
	}
	defer emu.stop()
	cache := filepath.Join(dir, "cache")

	// Run 1: polling every second. The first cycle clones and writes every
	// repo; then idle cycles.
	start := time.Now()
	d, err := startDaemon(e.bin, filepath.Join(dir, "daemon-poll.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, cache, "1s", false)...)
	if err != nil {
		return res, err
	}
	first, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc)
	if err != nil {
		d.stop()
		return res, fmt.Errorf("first cycle: %w", err)
	}
	res.startToFirst = time.Since(start)
	res.firstCycle = time.Duration(first.Duration * float64(time.Second))
	res.firstWrites = first.Writes
	if first.Result != "success" || first.Writes != n {
		d.stop()
		return res, fmt.Errorf("first cycle: result %s, %d writes, want success and %d", first.Result, first.Writes, n)
	}
	if res.rss[1], err = rss(d.pid()); err != nil {
		d.stop()
		return res, err
	}
	m0, _, err := scrape(ctx, d.addr)
	if err != nil {
		d.stop()
		return res, err
	}
	cycles, last := 1, e.o.cycles[len(e.o.cycles)-1]
	var cpu0 time.Duration
	c0 := 0
	for cycles < last {
		if _, err := d.log.wait(logLine.cycleEnd, 5*time.Minute, d.proc); err != nil {
			d.stop()
			return res, fmt.Errorf("idle cycle %d: %w", cycles+1, err)
		}
		cycles++
		if cycles == 2 {
			if cpu0, err = cpuTime(d.pid()); err != nil {
				d.stop()
				return res, err
			}
			c0 = cycles
		}
		for _, m := range e.o.cycles {
			if m == cycles {
				if res.rss[m], err = rss(d.pid()); err != nil {
					d.stop()
					return res, err
				}
			}
		}
	}
	cpu1, err := cpuTime(d.pid())
	if err != nil {
		d.stop()
		return res, err
	}
	if c0 > 0 && cycles > c0 {
		res.idleCycles = cycles - c0
		res.idleCPU = (cpu1 - cpu0) / time.Duration(res.idleCycles)
	}
	m1, size, err := scrape(ctx, d.addr)
	if err != nil {
		d.stop()
		return res, err
	}
	res.scrapeBytes = size
	if done := sum(m1, "ca_reconciler_reconciles_total", "") - sum(m0, "ca_reconciler_reconciles_total", ""); done > 0 {
		res.idleListRepos = (sum(m1, "ca_reconciler_api_requests_total", `ListRepos"`) - sum(m0, "ca_reconciler_api_requests_total", `ListRepos"`)) / done
		res.idleWrites = (sum(m1, "ca_reconciler_writes_total", "") - sum(m0, "ca_reconciler_writes_total", "")) / done
	}
	res.repoSeries = series(m1, "ca_reconciler_", `repo="`+repoName(n-1)+`"`)
	// Idle profiles: a few idle cycles of CPU, then the heap.
	if err := profile(ctx, d.addr, "profile?seconds=5", filepath.Join(e.o.profiles, fmt.Sprintf("n%d-idle.cpu.pb.gz", n))); err != nil {
		d.stop()
		return res, err
	}
	if err := profile(ctx, d.addr, "heap", filepath.Join(e.o.profiles, fmt.Sprintf("n%d-idle.heap.pb.gz", n))); err != nil {
		d.stop()
		return res, err
	}
	d.stop()

	// Run 2: webhooks only (no interval cycle during the pushes), warm cache.
	d, err = startDaemon(e.bin, filepath.Join(dir, "daemon-push.log"), daemonEnv, e.daemonArgs(apiURL, w.gitURL, cache, "1h", true)...)
	if err != nil {
		return res, err
	}
	defer d.stop()
	if _, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc); err != nil {
		return res, fmt.Errorf("warm start: %w", err)
	}
	cacheBefore := du(cache)
	p0, _, err := scrape(ctx, d.addr)
	if err != nil {
		return res, err
	}
	for p := 0; p < e.o.pushes; p++ {
		lat, bytes, err := e.push(ctx, w, d, (p*7919+13)%n)
		if err != nil {
			return res, fmt.Errorf("push %d: %w", p, err)
		}
		res.push = append(res.push, lat)
		res.pushBytes = append(res.pushBytes, bytes)
	}
	p1, _, err := scrape(ctx, d.addr)
	if err != nil {
		return res, err
	}
	if e.o.pushes > 0 {
		res.pushWrites = (sum(p1, "ca_reconciler_api_requests_total", `UpdateRepo"`) - sum(p0, "ca_reconciler_api_requests_total", `UpdateRepo"`)) / float64(e.o.pushes)
		res.cacheGrowth = (du(cache) - cacheBefore) / int64(e.o.pushes)
	}
	// Push profiles: a CPU profile over one push cycle, then the heap.
	errc := make(chan error, 1)
	go func() {
		errc <- profile(ctx, d.addr, "profile?seconds=3", filepath.Join(e.o.profiles, fmt.Sprintf("n%d-push.cpu.pb.gz", n)))
	}()
	time.Sleep(200 * time.Millisecond)
	if _, _, err := e.push(ctx, w, d, 1); err != nil {
		return res, fmt.Errorf("profiled push: %w", err)
	}
	if err := <-errc; err != nil {
		return res, err
	}
	if err := profile(ctx, d.addr, "heap", filepath.Join(e.o.profiles, fmt.Sprintf("n%d-push.heap.pb.gz", n))); err != nil {
		return res, err
	}
	// The baseline for the same push: apply every file.
	if _, err := w.change(2 % n); err != nil {
		return res, err
	}
	res.baseWall, res.baseCalls, res.baseUp, err = w.baseline(ctx, apiURL)
	return res, err
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	w, err := newWorld(dir, n)
	if err != nil {
		return res, err
	}
	defer w.close()
	emu, apiURL, err := startEmulator(e.bin, w.seed, filepath.Join(dir, "emulator.log"), latency)
	if err != nil {
		return res, err
	}
	defer emu.stop()
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
