// Package main is the ca-reconciler command. It keeps Chainguard Custom Assembly images equal to
// overlay files in a Git repo. See README.md for the commands and flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The Go runtime's soft memory limit: 90% of the container's cgroup
	// memory limit (cgroup v2 or v1), so the collector works harder before the
	// kernel kills the process; GOMEMLIMIT or AUTOMEMLIMIT in the environment
	// override it, and with no limit (outside a container) nothing changes.
	// On error the runtime keeps its default (no limit).
	_, _ = memlimit.Set()
	setDefaultGOGC(os.LookupEnv, debug.SetGCPercent)
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// defaultGOGC is the collector's GOGC when the environment sets none. Go's
// default, 100, lets the heap grow to twice what was live after the last
// collection before it collects again; most of this daemon's heap is
// long-lived (every repo's state, the parse and list caches), so each
// cycle's garbage piles up until it matches all of that, and the
// resident memory is about twice the live heap. Collecting at half that
// growth costs little CPU per cycle (BENCHMARKS.md), as Prometheus found
// for the same shape of heap (it sets 75 when GOGC is unset).
const defaultGOGC = 50

// setDefaultGOGC sets GOGC to defaultGOGC unless the environment sets it
// (any value, "off" included, is the runtime's to read).
func setDefaultGOGC(getenv env, set func(int) int) {
	if _, ok := getenv("GOGC"); !ok {
		set(defaultGOGC)
	}
}

// env looks up an environment variable.
type env func(string) (string, bool)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	root := newRootCommand(getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ee, ok := err.(exitError); ok {
		return ee.code
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

func newRootCommand(getenv env) *cobra.Command {
	root := &cobra.Command{
		Use:           "ca-reconciler",
		Short:         "GitOps for Chainguard Custom Assembly",
		Long:          "ca-reconciler keeps Chainguard Custom Assembly images equal to the overlay files in a Git repo:\nit diffs each file against the live overlay, writes only what drifted, follows the builds and exports metrics.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCommand(getenv),
		newPlanCommand(getenv),
		newValidateCommand(getenv),
		newEmulatorCommand(getenv),
		newVersionCommand(),
	)
	return root
}

// envName is the environment variable that sets a flag.
func envName(flag string) string {
	return "CA_RECONCILER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnv documents and applies CA_RECONCILER_<FLAG> for every flag of cmd:
// a flag given on the command line wins over its environment variable.
func bindEnv(cmd *cobra.Command, getenv env) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, envName(f.Name))
	})
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		var firstErr error
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Changed || firstErr != nil {
				return
			}
			v, ok := getenv(envName(f.Name))
			if !ok {
				return
			}
			if err := c.Flags().Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("invalid %s: %w", envName(f.Name), err)
			}
		})
		if firstErr != nil {
			return firstErr
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}
