package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// serveWorld sets up what one size of the scale run uses (the emulator
// seeded with N repos, the Git server with one file per repo) and prints the
// daemon's command line, then waits for an interrupt: for profiling the
// daemon by hand (`go tool pprof http://ADDR/debug/pprof/profile`) and
// pushing with git in the printed work tree.
func serveWorld(o options) error {
	tmp, bin, done, err := workspace("ca-reconciler-world-", false)
	if err != nil {
		return err
	}
	defer done()
	w, apiURL, stop, err := startWorld(bin, tmp, o.repos, o.latency)
	if err != nil {
		return err
	}
	defer stop()
	e := env{bin: bin, tmp: tmp, o: o}
	if err := os.WriteFile(filepath.Join(tmp, "webhook-secret"), []byte(benchSecret), 0o600); err != nil {
		return err
	}
	args := e.daemonArgs(apiURL, w.gitURL, filepath.Join(tmp, "cache"), "1s", true)
	fmt.Printf("work tree (commit and push here): %s\n", w.work)
	fmt.Printf("daemon:\n  %s %s run --listen 127.0.0.1:9090 --pprof %s\n", strings.Join(daemonEnv, " "), bin, strings.Join(args, " "))
	fmt.Printf("webhook: POST /hooks/generic with X-Signature-256 = HMAC-SHA256 of the body with %q\n", benchSecret)
	fmt.Println("interrupt to stop and remove everything")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
