package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// The package check's cost (issue 12 item 6): the daemon's CPU and memory
// per cycle with the check and without it, at checkRepos repos and an
// organization index of checkPackages packages on each of two
// architectures, for a push that changes one file and one that changes
// every file. The daemon is the real binary against the emulator (separate
// processes); its CPU is read from /proc/PID/stat, the bytes it allocated
// from its own go_memstats_alloc_bytes_total, its peak RSS from VmHWM.

// checkOptions sizes the package check's case.
type checkOptions struct {
	repos, packages int
	onePushes       int // one-file pushes measured per variant
	allPushes       int // every-file pushes measured per variant
}

// checkCycle is what one measured cycle cost the daemon.
type checkCycle struct {
	cpu        time.Duration
	alloc      float64 // bytes allocated
	writes     int
	apkCalls   float64 // ListAPKs calls
	buildCalls float64 // ListBuildReports calls
	wall       time.Duration
}

// checkVariant is one daemon's run: with or without the check.
type checkVariant struct {
	one, all []checkCycle
	// first is the first one-file cycle of the run, apart: with the check
	// it reads the organization's index.
	first   checkCycle
	peakRSS int64
	refused float64 // repos the check refused (none expected)
}

// checkResult is the package check's case.
type checkResult struct {
	o           checkOptions
	off, on     checkVariant
	catalogSize int // catalog entries per architecture (names and versions)
	skipped     string
}

// checkCatalogYAML is emulator.SyntheticCatalog(n) as seed lines, and the
// number of its entries.
func checkCatalogYAML(n int) (string, int) {
	var b strings.Builder
	catalog := emulator.SyntheticCatalog(n)
	for _, p := range catalog {
		fmt.Fprintf(&b, "      - {name: %s, version: %s, provides: [%s]", p.Name, p.Version, quoteAll(p.Provides))
		if len(p.Depends) > 0 {
			fmt.Fprintf(&b, ", depends: [%s]", quoteAll(p.Depends))
		}
		b.WriteString("}\n")
	}
	return b.String(), len(catalog)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// checkBases are ten base images of 30 packages each: repo i is built on
// base i%10.
func checkBases(packages int) [][]string {
	rng := rand.New(rand.NewPCG(3, 4))
	bases := make([][]string, 10)
	for b := range bases {
		for range 30 {
			bases[b] = append(bases[b], emulator.SyntheticPackage(rng.IntN(packages)))
		}
	}
	return bases
}

// checkFile is repo i's file in round r: three distinct packages of the
// catalog (a file naming one twice is invalid), drawn again every round.
func checkFile(i, r, packages int) string {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(r)))
	var pkgs []string
	for len(pkgs) < 3 {
		if p := emulator.SyntheticPackage(rng.IntN(packages)); !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	return "contents:\n  packages: [" + strings.Join(pkgs, ", ") + "]\n"
}

// newCheckWorld is a world of o.repos repos built on the bases above, in
// an organization whose catalog is o.packages packages, and one file per
// repo (round 0).
func newCheckWorld(dir string, o checkOptions) (*world, int, error) {
	w := &world{dir: dir, work: filepath.Join(dir, "work"), bare: filepath.Join(dir, "config.git"), seed: filepath.Join(dir, "seed.yaml"), n: o.repos}
	catalog, entries := checkCatalogYAML(o.packages)
	bases := checkBases(o.packages)
	var b strings.Builder
	fmt.Fprintf(&b, "orgs:\n  - name: %s\n    catalog:\n%s    repos:\n", org, catalog)
	for i := range o.repos {
		fmt.Fprintf(&b, "      - name: %s\n        active_tags: [latest]\n        sync_config:\n          source: cgr.dev/chainguard/static\n          apko_overlay: \"contents: {}\"\n        base_packages: [%s]\n",
			repoName(i), strings.Join(bases[i%len(bases)], ", "))
	}
	if err := os.WriteFile(w.seed, []byte(b.String()), 0o644); err != nil {
		return nil, 0, err
	}
	if err := w.git(dir, "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return nil, 0, err
	}
	if err := w.git(dir, "clone", "-q", w.bare, w.work); err != nil {
		return nil, 0, err
	}
	if err := w.git(w.work, "checkout", "-q", "-b", "main"); err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(filepath.Join(w.work, overlayDir), 0o755); err != nil {
		return nil, 0, err
	}
	if err := w.writeCheckFiles(o.packages, allRepos(o.repos)); err != nil {
		return nil, 0, err
	}
	if err := w.commit(); err != nil {
		return nil, 0, err
	}
	return w, entries, w.serve()
}

func allRepos(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// writeCheckFiles writes the files of the repos for the world's round.
func (w *world) writeCheckFiles(packages int, repos []int) error {
	for _, i := range repos {
		if err := os.WriteFile(filepath.Join(w.work, overlayDir, repoName(i)+".yaml"), []byte(checkFile(i, w.round, packages)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkCase measures the daemon with and without the package check on one
// emulator: a first run writes every repo (so every repo has a successful
// build, whose configuration tells the check its base image), then each
// variant runs as a webhook-only daemon on a warm cache through the same
// pushes.
func (e env) checkCase(o checkOptions) (checkResult, error) {
	res := checkResult{o: o}
	dir := filepath.Join(e.tmp, fmt.Sprintf("check-n%d", o.repos))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(e.tmp, "webhook-secret"), []byte(benchSecret), 0o600); err != nil {
		return res, err
	}
	w, entries, err := newCheckWorld(dir, o)
	if err != nil {
		return res, err
	}
	defer w.close()
	res.catalogSize = entries
	emu, apiURL, err := startEmulator(e.bin, w.seed, filepath.Join(dir, "emulator.log"), 0)
	if err != nil {
		return res, err
	}
	defer emu.stop()
	cache := filepath.Join(dir, "cache")

	// Every repo written once, without the check (nothing is built yet).
	d, err := startDaemon(e.bin, filepath.Join(dir, "daemon-first.log"), daemonEnv, append(e.daemonArgs(apiURL, w.gitURL, cache, "1h", true), "--package-check=false")...)
	if err != nil {
		return res, err
	}
	first, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc)
	d.stop()
	if err != nil {
		return res, fmt.Errorf("first cycle: %w", err)
	}
	if first.Writes != o.repos {
		return res, fmt.Errorf("first cycle: %d writes, want %d", first.Writes, o.repos)
	}
	// The builds that write started finish in the emulator (10 ms each, but
	// each resolves against the catalog).
	time.Sleep(time.Duration(o.repos) * 3 * time.Millisecond)

	for _, v := range []struct {
		name  string
		check bool
		out   *checkVariant
	}{{"off", false, &res.off}, {"on", true, &res.on}} {
		fmt.Fprintf(os.Stderr, "bench: package check %s, %d repos, %d packages\n", v.name, o.repos, o.packages)
		args := append(e.daemonArgs(apiURL, w.gitURL, cache, "1h", true), fmt.Sprintf("--package-check=%v", v.check))
		if *v.out, err = e.checkVariant(w, filepath.Join(dir, "daemon-check-"+v.name+".log"), args, o); err != nil {
			return res, fmt.Errorf("package check %s: %w", v.name, err)
		}
	}
	return res, nil
}

func (e env) checkVariant(w *world, logFile string, args []string, o checkOptions) (checkVariant, error) {
	var v checkVariant
	ctx := context.Background()
	d, err := startDaemon(e.bin, logFile, daemonEnv, args...)
	if err != nil {
		return v, err
	}
	defer d.stop()
	if _, err := d.log.wait(logLine.cycleEnd, 30*time.Minute, d.proc); err != nil {
		return v, fmt.Errorf("start: %w", err)
	}
	for p := 0; p < 1+o.onePushes; p++ {
		c, err := e.checkPush(ctx, w, d, []int{(p*7919 + 13) % o.repos}, o)
		if err != nil {
			return v, fmt.Errorf("one-file push %d: %w", p, err)
		}
		if p == 0 {
			v.first = c
			continue
		}
		v.one = append(v.one, c)
	}
	for p := 0; p < o.allPushes; p++ {
		c, err := e.checkPush(ctx, w, d, allRepos(o.repos), o)
		if err != nil {
			return v, fmt.Errorf("every-file push %d: %w", p, err)
		}
		v.all = append(v.all, c)
	}
	m, _, err := scrape(ctx, d.addr)
	if err != nil {
		return v, err
	}
	v.refused = sum(m, "ca_reconciler_package_check_refusals_total", "")
	v.peakRSS, err = peakRSS(d.pid())
	return v, err
}

// checkPush changes the repos' files in one commit, triggers the webhook
// and measures the daemon from before the push to the end of the cycle
// that wrote them.
func (e env) checkPush(ctx context.Context, w *world, d *daemon, repos []int, o checkOptions) (checkCycle, error) {
	var c checkCycle
	w.round++
	if err := w.writeCheckFiles(o.packages, repos); err != nil {
		return c, err
	}
	if err := w.commit(); err != nil {
		return c, err
	}
	d.log.drop()
	m0, _, err := scrape(ctx, d.addr)
	if err != nil {
		return c, err
	}
	cpu0, err := cpuTime(d.pid())
	if err != nil {
		return c, err
	}
	t0 := time.Now()
	if err := postHook(ctx, d.addr); err != nil {
		return c, err
	}
	l, err := d.log.wait(func(l logLine) bool { return l.cycleEnd() && l.Trigger == "webhook" }, 10*time.Minute, d.proc)
	if err != nil {
		return c, fmt.Errorf("waiting for the cycle: %w", err)
	}
	cpu1, err := cpuTime(d.pid())
	if err != nil {
		return c, err
	}
	c.wall = time.Since(t0)
	m1, _, err := scrape(ctx, d.addr)
	if err != nil {
		return c, err
	}
	c.cpu, c.writes = cpu1-cpu0, l.Writes
	c.alloc = sum(m1, "go_memstats_alloc_bytes_total", "") - sum(m0, "go_memstats_alloc_bytes_total", "")
	c.apkCalls = sum(m1, "ca_reconciler_api_requests_total", `ListAPKs"`) - sum(m0, "ca_reconciler_api_requests_total", `ListAPKs"`)
	c.buildCalls = sum(m1, "ca_reconciler_api_requests_total", `ListBuildReports"`) - sum(m0, "ca_reconciler_api_requests_total", `ListBuildReports"`)
	if c.writes != len(repos) {
		return c, fmt.Errorf("the cycle wrote %d repos, want %d (%s)", c.writes, len(repos), lastLines(d.log.path, 5))
	}
	// Webhook cycles are spaced by a second; and the builds the writes
	// started finish before the next push.
	time.Sleep(1100*time.Millisecond + time.Duration(len(repos))*3*time.Millisecond)
	return c, nil
}

// peakRSS is a process's peak resident set size (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), "VmHWM")
}

// medianCycle is the cycle of median CPU among cs.
func medianCycle(cs []checkCycle) checkCycle {
	if len(cs) == 0 {
		return checkCycle{}
	}
	s := append([]checkCycle(nil), cs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].cpu < s[i].cpu {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// checkReport is the package check's section of BENCHMARKS.md.
func checkReport(r checkResult) string {
	var b strings.Builder
	b.WriteString(checkSectionStart + "\n## The package check's cost\n\n")
	if r.skipped != "" {
		fmt.Fprintf(&b, "Not run: %s.\n%s\n", r.skipped, checkSectionEnd)
		return b.String()
	}
	fmt.Fprintf(&b, "`go run ./cmd/bench check -check-repos %d -check-packages %d` (part of the default run). %d repos, each built on one of ten\n",
		r.o.repos, r.o.packages, r.o.repos)
	fmt.Fprintf(&b, "base images of 30 packages, in an organization whose index has %d packages (%d entries with their versions) on each of\n", r.o.packages, r.catalogSize)
	b.WriteString("x86_64 and aarch64; each file names three packages. One emulator; the daemon runs webhook-only on a warm cache twice,\n")
	b.WriteString("with `--package-check=false` and with the check, through the same pushes (every push changes the files' packages).\n")
	b.WriteString("CPU is the daemon's from /proc (10 ms resolution), allocated bytes its own `go_memstats_alloc_bytes_total`, both from\n")
	b.WriteString("the push to the end of the cycle that wrote the files (load-sensitive); medians of the pushes measured.\n\n")
	b.WriteString("| cycle | CPU without | CPU with the check | ratio | allocated without | allocated with | ratio | ListAPKs | ListBuildReports |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, off, on checkCycle) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |\n", name, ms(off.cpu), ms(on.cpu), ratio(float64(on.cpu), float64(off.cpu)),
			mb(off.alloc), mb(on.alloc), ratio(on.alloc, off.alloc), on.apkCalls, on.buildCalls)
	}
	row("one file changed, the first check (reads the index)", r.off.first, r.on.first)
	row(fmt.Sprintf("one file changed (median of %d)", len(r.on.one)), medianCycle(r.off.one), medianCycle(r.on.one))
	row(fmt.Sprintf("%d files changed (median of %d)", r.o.repos, len(r.on.all)), medianCycle(r.off.all), medianCycle(r.on.all))
	fmt.Fprintf(&b, "\nPeak RSS of the daemon over its run: %s without the check, %s with it. Repos refused: %.0f (the files name packages the index\n",
		mib(r.off.peakRSS), mib(r.on.peakRSS), r.on.refused)
	b.WriteString("has). An idle cycle makes no check and no call beyond its ListRepos (`go test ./reconciler -run TestPackageCheckRefusesWhatCannotBuild`).\n")
	b.WriteString(checkSectionEnd + "\n")
	return b.String()
}

func mb(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

// Markers around the package check's section, so that `bench check`
// replaces it in an existing report.
const (
	checkSectionStart = "<!-- bench:package-check -->"
	checkSectionEnd   = "<!-- /bench:package-check -->"
)

// replaceSection puts section, which starts with its marker "<!--
// bench:NAME -->" and ends with "<!-- /bench:NAME -->", in place of the
// report's own, or before its "## Profiles" heading, or at its end.
func replaceSection(report, section string) string {
	start, _, _ := strings.Cut(section, "\n")
	stop := strings.Replace(start, "<!-- bench:", "<!-- /bench:", 1)
	if i := strings.Index(report, start); i >= 0 {
		if j := strings.Index(report[i:], stop); j >= 0 {
			end := i + j + len(stop)
			if end < len(report) && report[end] == '\n' {
				end++
			}
			return report[:i] + section + report[end:]
		}
	}
	if i := strings.Index(report, "\n## Profiles\n"); i >= 0 {
		return report[:i+1] + section + "\n" + report[i+1:]
	}
	return strings.TrimRight(report, "\n") + "\n\n" + section
}

// checkOnly runs only the package check's case and replaces its section
// of the report (o.out), keeping the rest.
func checkOnly(o options) error {
	tmp, bin, done, err := workspace("ca-reconciler-bench-", o.keep)
	if err != nil {
		return err
	}
	defer done()
	e := env{bin: bin, tmp: tmp, o: o}
	r, err := e.checkCase(o.check)
	if err != nil {
		return err
	}
	old, _ := os.ReadFile(o.out)
	return os.WriteFile(o.out, []byte(replaceSection(string(old), checkReport(r))), 0o644)
}

// parseStatusKB reads a "Field:   123 kB" line of /proc/PID/status, in
// bytes.
func parseStatusKB(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
