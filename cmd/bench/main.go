// Package main is the bench command. It measures ca-reconciler side by side with the baselines it
// replaces, in one run, and writes the results as ratios to BENCHMARKS.md:
//
//   - a push that changes one of N files: ca-reconciler's cycle against the
//     CI job that re-applies every file on every push (what teams do today
//     with `chainctl image repo build apply`), counted in API calls, writes,
//     builds started, wall time and allocated bytes;
//   - a poll of an unchanged repository, against the same CI job re-run;
//   - push-to-write latency through a webhook, against polling on an
//     interval.
//
// Everything runs on loopback: the emulator over real gRPC with the SDK's
// client, and real Git repositories driven by the git CLI.
//
//	go run ./cmd/bench -repos 200 -pushes 10 -o BENCHMARKS.md
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	repos := flag.Int("repos", 200, "number of managed repos (and files)")
	pushes := flag.Int("pushes", 10, "pushes measured for each latency case")
	interval := flag.Duration("poll-interval", 2_000_000_000, "interval of the polling baseline")
	out := flag.String("o", "BENCHMARKS.md", "report file")
	flag.Parse()
	if err := run(*repos, *pushes, *interval, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
