package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/cgevents"
	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func newRunCommand(getenv env) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: reconcile on an interval (or once with --once)",
		Long: `Run the daemon. Every --interval (jittered), or when a webhook arrives, it reads the Git
repository, diffs each file under --path against the live overlay of the repo it names,
and in --mode apply writes the repos that drifted, creates the repos the folder's .ca-reconciler.yaml
gives a source, leaves the repos it suspends, and with --prune resets the repos whose file is gone.
It serves metrics and status on --listen.`,
		Example: `  ca-reconciler run --git-url https://github.com/acme/images-config --org acme.com
  ca-reconciler run --api local --emulator-seed examples/seed.yaml --git-url . --path examples/ca-images-iac --org example-org`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.checkRun(); err != nil {
				return err
			}
			return runDaemon(cmd, o, getenv)
		},
	}
	o.addSourceFlags(cmd.Flags())
	o.addAPIFlags(cmd.Flags())
	o.addPackageCheckFlags(cmd.Flags())
	o.addRunFlags(cmd.Flags())
	o.addPruneFlags(cmd.Flags())
	o.addLogFlags(cmd.Flags())
	bindEnv(cmd, getenv)
	return cmd
}

func runDaemon(cmd *cobra.Command, o *options, getenv env) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := wire(ctx, o, cmd.ErrOrStderr(), getenv, true)
	if err != nil {
		return err
	}
	defer d.close()

	if o.once {
		if unused := servingOnly(cmd.Flags()); len(unused) > 0 {
			d.log.Warn("--once runs one cycle and serves nothing: these flags are not used", zap.Strings("flags", unused))
		}
		rep := d.reconciler.RunOnce(ctx, "start")
		d.feedback.drain(ctx)
		return exitFor(rep, vocab.Mode(o.mode))
	}

	var hooks map[string]http.Handler
	if o.webhookSecretFile != "" {
		if _, err := os.Stat(o.webhookSecretFile); err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		hooks = gitsource.WebhookHandlers(gitsource.WebhookConfig{
			SecretFile: o.webhookSecretFile,
			Trigger:    d.reconciler.Trigger,
			Observe: func(p vocab.WebhookProvider, r vocab.WebhookResult) {
				d.metrics.WebhookRequests.WithLabelValues(string(p), string(r)).Inc()
			},
			Logger: d.log.Named("webhook"),
		})
	}
	if o.feedback.chainguardEvents {
		issuer := o.issuer
		if d.localIssuer != "" && !cmd.Flags().Changed("issuer") {
			// --api local: the embedded emulator signs its deliveries.
			issuer = d.localIssuer
		}
		h, err := d.feedback.chainguardHook(d, issuer)
		if err != nil {
			return fmt.Errorf("--chainguard-events: %w", err)
		}
		if hooks == nil {
			hooks = map[string]http.Handler{}
		}
		hooks[cgevents.Path] = h
	}
	// --listen is bound first, so that a --webhook-listen on the same
	// address fails naming --webhook-listen.
	ownHooks := o.webhookListen != ""
	mainHooks := hooks
	if ownHooks {
		mainHooks = nil // served on their own address
	}
	routes, err := statusPageRoute(d, mainHooks)
	if err != nil {
		return err
	}
	srv, err := metrics.Listen(metrics.ServerConfig{
		Addr:     o.listen,
		Gatherer: d.registry,
		Status:   func() any { return d.store.Status() },
		Ready:    readiness(d.store.Status, o.interval, time.Now),
		Handlers: routes,
		Pprof:    o.pprof,
		Logger:   d.log,
		Limits:   serverLimits(mainHooks != nil),
	})
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	servers := []*metrics.Server{srv}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
		d.log.Info("stopped")
	}()
	// A server that stops with an error stops the daemon (its pod is then
	// restarted), rather than running on without probes or hooks.
	ctx, failed := context.WithCancelCause(ctx)
	defer failed(nil)
	go serveUntilError(srv, "--listen", d.log, failed)
	if ownHooks {
		hookSrv, err := listenHooks(o.webhookListen, hooks, d.log)
		if err != nil {
			return err
		}
		servers = append(servers, hookSrv)
		go serveUntilError(hookSrv, "--webhook-listen", d.log, failed)
	}
	d.log.Info("serving", zap.String("addr", srv.Addr()), zap.String("mode", o.mode), zap.String("org", o.org))
	feedbackDone := make(chan struct{})
	go func() {
		defer close(feedbackDone)
		d.feedback.run(ctx)
	}()
	buildsDone := make(chan struct{})
	go func() {
		defer close(buildsDone)
		_ = d.builds.Run(ctx)
	}()
	err = d.reconciler.Run(ctx)
	<-buildsDone
	<-feedbackDone
	if cause := context.Cause(ctx); errors.Is(cause, errServerStopped) {
		return cause
	}
	return err
}

// servingOnly names, with their dashes, the run flags set (on the command
// line or in the environment) that only a serving daemon uses: --once serves
// no address and follows no build.
func servingOnly(fs *pflag.FlagSet) []string {
	var set []string
	for _, name := range []string{
		"listen", "pprof", "webhook-listen", "webhook-secret-file", "chainguard-events",
		"interval", "build-timeout", "build-poll-interval",
	} {
		if fs.Changed(name) {
			set = append(set, "--"+name)
		}
	}
	return set
}

// errServerStopped marks a server that stopped on its own.
var errServerStopped = errors.New("HTTP server stopped")

// serveUntilError serves srv; when it stops with an error, the error is
// logged and fail stops the daemon with it.
func serveUntilError(srv *metrics.Server, flag string, log *zap.Logger, fail context.CancelCauseFunc) {
	if err := srv.Serve(); err != nil {
		log.Error("HTTP server stopped", zap.String("flag", flag), zap.Error(err))
		fail(fmt.Errorf("%w (%s %s): %w", errServerStopped, flag, srv.Addr(), err))
	}
}

// listenHooks binds --webhook-listen to serve the hooks alone (the caller
// serves it); without --webhook-listen it returns nil and the hooks are served
// on --listen.
func listenHooks(addr string, hooks map[string]http.Handler, log *zap.Logger) (*metrics.Server, error) {
	if addr == "" {
		return nil, nil
	}
	if len(hooks) == 0 {
		return nil, errors.New("--webhook-listen: no hook is enabled (--webhook-secret-file, --chainguard-events)")
	}
	mux := http.NewServeMux()
	for pattern, h := range hooks {
		mux.Handle(pattern, h)
	}
	srv, err := metrics.ListenHandler(addr, mux, serverLimits(true), log)
	if err != nil {
		return nil, fmt.Errorf("--webhook-listen %s: %w", addr, err)
	}
	log.Info("serving hooks", zap.String("addr", srv.Addr()))
	return srv, nil
}

// readiness answers /readyz from the last finished cycle, naming what is
// wrong:
//
//   - no cycle has finished yet;
//   - the cycle itself is late: none finished within three intervals plus
//     three times the last cycle's duration (so a slow but successful API,
//     whose cycles take longer than the interval, keeps the daemon ready);
//   - the last cycle could not read Git, or the Chainguard API, and that
//     dependency has not been read successfully for that long either (one
//     failed read is retried at the next cycle, without flapping).
func readiness(status func() store.Status, interval time.Duration, now func() time.Time) metrics.Readiness {
	return func() (bool, string) {
		s := status()
		c := s.LastCycle
		if !s.Ready || c == nil {
			return false, "first cycle not finished"
		}
		window := 3 * (interval + c.Finished.Sub(c.Started))
		if late := now().Sub(c.Finished); late > window {
			return false, fmt.Sprintf("cycle late: none finished for %s (more than three intervals and cycle durations, %s)", late.Round(time.Second), window.Round(time.Second))
		}
		if c.Result != vocab.CycleError {
			return true, "ready"
		}
		last := s.LastFetch
		if c.FailedDependency == vocab.DependencyAPI {
			last = s.LastLiveRead
		}
		if !last.IsZero() && c.Finished.Sub(last) <= window {
			return true, "ready (the last cycle could not read " + c.FailedDependency.Describe() + "; retrying)"
		}
		since := "since start"
		if !last.IsZero() {
			since = "for " + c.Finished.Sub(last).Round(time.Second).String()
		}
		return false, fmt.Sprintf("%s could not be read %s: %s", c.FailedDependency.Describe(), since, short(c.Error, 300))
	}
}

// short cuts s to at most n bytes, at a character boundary, marking the
// cut.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// serverLimits are the --listen server's limits: metrics.DefaultLimits, with
// gitsource's recommended timeouts when it serves the hooks.
func serverLimits(hooks bool) metrics.Limits {
	l := metrics.DefaultLimits()
	if hooks {
		t := gitsource.WebhookServerTimeouts()
		l.ReadHeader, l.Read, l.Idle = t.ReadHeader, t.Read, t.Idle
		l.Write = max(l.Write, t.Write)
	}
	return l
}

// exitFor maps a --once cycle to the exit code: 0 every managed repo in sync,
// 2 drift left (detect mode), 1 any error.
func exitFor(rep reconciler.Report, mode vocab.Mode) error {
	if rep.Err != nil || rep.Plan.HasErrors() {
		return exitError{1}
	}
	drift := false
	for _, c := range rep.Plan.Changes {
		if !c.Drifted() {
			continue
		}
		if c.Stalled {
			return exitError{1}
		}
		if mode == vocab.ModeDetect {
			drift = true
			continue
		}
		if w, ok := rep.Writes[c.Repo]; !ok || w.Err != nil || !w.Converged {
			return exitError{1}
		}
	}
	if drift {
		return exitError{2}
	}
	return nil
}
