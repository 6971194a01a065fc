// Package main is the bench command. It measures ca-reconciler at scale with
// the daemon and the Chainguard API emulator as separate processes (both the
// real binary, talking over loopback), side by side with the baseline it
// replaces, and writes BENCHMARKS.md:
//
//	go run ./cmd/bench                                  # the scale table, N = 500 ... 5,000
//	go run ./cmd/bench -sizes 200 -cycles 1,20 -o /tmp/b.md   # a quick check
//	go run ./cmd/bench soak -repos 1000 -cycles 1000     # RSS, heap, goroutines over K cycles
//	go run ./cmd/bench check                             # only the package check's cost, its section of BENCHMARKS.md
//	go run ./cmd/bench console                           # only how long a Console edit stays live, its section
//	go run ./cmd/bench world -repos 5000 -latency 0      # the emulator and Git server of one size, for profiling by hand
//	go run ./cmd/bench notes                             # only the notes: cmd/bench/notes.md in place of the report's own
//
// Per size N it seeds the emulator with N Custom Assembly repos, commits one
// overlay file per repo to a bare Git repository served by `git http-backend`
// behind a counting proxy, and runs the daemon twice: once polling every
// second (the first full cycle with N writes, idle CPU per cycle from
// /proc/PID/stat, RSS from /proc/PID/status after 1, 100, ... cycles, an idle
// CPU and heap profile), then with webhooks only (one-file pushes: push to
// write through the webhook, bytes fetched, a push CPU and heap profile). The
// baseline is the CI job that applies every file on every push
// (`chainctl image repo build apply -f FILE` per file). The same push case
// runs again against an emulator that adds API latency (-latency), when the
// emulator supports --latency. Cycles and writes are read from the daemon's
// own log lines ("reconcile finished", "repo written") and metrics; counts
// are exact, wall times depend on the machine's load.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	mode := "scale"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("bench "+mode, flag.ContinueOnError)
	var o options
	sizes := fs.String("sizes", "500,1000,2000,5000", "scale: numbers of repos (and files), comma separated")
	defCycles := "1,100"
	if mode == "soak" {
		defCycles = "1,100,1000"
	}
	cycles := fs.String("cycles", defCycles, "cycles after which RSS (soak: and heap, goroutines) is read; the last one ends the run (1000 cycles take ~19 min)")
	fs.IntVar(&o.long, "long", 1000, "scale: the largest size runs on to this many cycles, RSS read after it (0: no; the daemon's interval floor of 1s makes 1,000 cycles ~19 min)")
	fs.IntVar(&o.repos, "repos", 1000, "soak and world: number of repos")
	fs.IntVar(&o.pushes, "pushes", 70, "one-file pushes measured per size (at least 64, so that the cache's growth includes one packing of its loose objects)")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "API latency of the latency case (0 skips it)")
	fs.IntVar(&o.latencyRepos, "latency-repos", 500, "number of repos of the latency case")
	defOut := "BENCHMARKS.md"
	if mode == "soak" {
		defOut = "bench-soak.md"
	}
	fs.StringVar(&o.out, "o", defOut, "report file")
	fs.StringVar(&o.profiles, "profiles", "bench-profiles", "folder for the CPU and heap profiles (next to the report)")
	fs.StringVar(&o.notes, "notes", "cmd/bench/notes.md", "hand-written reading of the numbers, appended to the report when the file exists")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (logs, repositories) for inspection")
	fs.BoolVar(&o.checkOn, "check", true, "scale: also measure the package check's cost (the section `bench check` writes)")
	fs.IntVar(&o.check.repos, "check-repos", 1000, "package check: number of repos")
	fs.IntVar(&o.check.packages, "check-packages", 5000, "package check: packages in the organization's index, on each of two architectures")
	fs.IntVar(&o.check.onePushes, "check-pushes", 5, "package check: one-file pushes measured per variant (after a first one)")
	fs.BoolVar(&o.consoleOn, "console", true, "scale: also measure how long a Console edit stays live (the section `bench console` writes)")
	fs.IntVar(&o.console.repos, "console-repos", 100, "Console edit: number of repos")
	fs.IntVar(&o.console.edits, "console-edits", 20, "Console edit: edits measured per variant")
	fs.IntVar(&o.check.allPushes, "check-all-pushes", 2, "package check: pushes changing every file measured per variant")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.sizes, err = ints(*sizes); err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if o.cycles, err = ints(*cycles); err != nil {
		return fmt.Errorf("-cycles: %w", err)
	}
	modes := map[string]func(options) error{
		"scale": scale, "soak": soak, "check": checkOnly, "console": consoleOnly, "world": serveWorld, "notes": notesOnly,
	}
	do, ok := modes[mode]
	if !ok {
		return fmt.Errorf("unknown mode %q (one of %s)", mode, strings.Join(slices.Sorted(maps.Keys(modes)), ", "))
	}
	return do(o)
}

type options struct {
	sizes, cycles []int
	long          int
	repos, pushes int
	latency       time.Duration
	latencyRepos  int
	out, profiles string
	notes         string
	keep          bool
	// checkOn adds the package check's case to the scale run; check sizes
	// it (bench check runs only it).
	checkOn bool
	check   checkOptions
	// consoleOn adds the Console-edit case to the scale run; console
	// sizes it (bench console runs only it).
	consoleOn bool
	console   consoleOptions
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%q: numbers must increase", s)
		}
		out = append(out, n)
	}
	return out, nil
}
