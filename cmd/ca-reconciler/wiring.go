package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// daemon is everything run and plan wire together.
type daemon struct {
	log        *zap.Logger
	registry   *prometheus.Registry
	metrics    *metrics.Metrics
	api        *chainguard.Client
	source     *gitsource.Source
	store      *store.Store
	reconciler *reconciler.Reconciler
	builds     *buildwatch.Watcher
	feedback   *feedback
	// localIssuer signs the embedded emulator's event deliveries.
	localIssuer string
	// self names the identity the daemon calls the API as, the way events
	// name their actor; nil when it cannot be told (an opaque token).
	self      func() []string
	plaintext bool
	closers   []func()
}

func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// wire builds the daemon from validated options: the log, metrics, the API
// client, the Git source, the store and the reconciler, and with
// followBuilds the build watcher too (run has one; plan, which writes
// nothing, does not). Every error here is a configuration error that stops
// the process at start.
func wire(ctx context.Context, o *options, stderr io.Writer, getenv env, followBuilds bool) (_ *daemon, err error) {
	log, err := o.log.logger(stderr)
	if err != nil {
		return nil, err
	}
	d := &daemon{log: log, registry: prometheus.NewRegistry(), store: store.New()}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	d.closers = append(d.closers, func() { _ = log.Sync() })
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.metrics = metrics.New(d.registry, version)

	apiURL := o.api
	var tokens chainguard.TokenSource
	if o.api == "local" {
		// A fresh random token: the embedded API is authenticated like the
		// real one, and the daemon's credential path is exercised.
		tok := rand.Text()
		tokens = chainguard.StaticToken(tok)
		emu := emulator.New(emulator.Options{Token: tok})
		if o.emulatorSeed != "" {
			seed, err := emulator.LoadSeed(o.emulatorSeed)
			if err != nil {
				return nil, fmt.Errorf("loading --emulator-seed: %w", err)
			}
			if err := emu.ApplySeed(seed); err != nil {
				return nil, fmt.Errorf("applying --emulator-seed: %w", err)
			}
		}
		apiURL, err = emu.Start("127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("starting the embedded emulator: %w", err)
		}
		d.localIssuer = emu.IssuerURL()
		d.closers = append(d.closers, emu.Close)
		log.Info("embedded Chainguard API emulator started", zap.String("url", apiURL))
	} else {
		tokens, err = tokenSource(o, getenv)
		if err != nil {
			return nil, err
		}
		d.self = selfNames(o.identity, tokens)
	}
	d.plaintext, err = chainguard.CheckURL(apiURL, o.insecure)
	if err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	d.api, err = chainguard.Dial(ctx, chainguard.Config{URL: apiURL, Tokens: tokens, CallTimeout: o.apiTimeout, Insecure: o.insecure, Observer: d.metrics})
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = d.api.Close() })

	var keyring string
	if o.verifyKeyring != "" {
		b, err := os.ReadFile(o.verifyKeyring)
		if err != nil {
			return nil, fmt.Errorf("--verify-commits-keyring: %w", err)
		}
		keyring = string(b)
	}
	d.source, err = gitsource.New(gitsource.Config{
		URL:      o.gitURL,
		Ref:      o.ref,
		Path:     o.path,
		CacheDir: cacheDirFor(o.cacheDir, o.gitURL, o.ref),
		Timeout:  o.gitTimeout,
		Auth: gitsource.Auth{
			Username:                 o.gitUsername,
			PasswordFile:             o.gitPasswordFile,
			SSHKeyFile:               o.gitSSHKeyFile,
			SSHKeyPassphraseFile:     o.gitSSHKeyPassphraseFile,
			KnownHostsFile:           o.gitKnownHostsFile,
			InsecureSkipHostKeyCheck: o.gitInsecureSkipHostCheck,
		},
		Keyring: keyring,
		History: o.prune, // pruning knows which repos a file once named
		Logger:  log.Named("git"),
		Names:   gitFlagNames(),
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the Git source: %w", err)
	}

	var warnings []string
	if d.plaintext && o.api != "local" && !isLoopbackURL(apiURL) {
		warnings = append(warnings, "the Chainguard API connection is plaintext (--insecure): tokens and overlays cross the network unencrypted")
	}
	d.feedback, err = newFeedback(d, o, func(repoID string) bool { return d.builds != nil && d.builds.Busy(repoID) })
	if err != nil {
		return nil, err
	}
	opts := []reconciler.Option{reconciler.WithStore(d.store)}
	if o.packageCheck {
		check, err := newPackageCheck(d, o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, check)
	}
	if followBuilds {
		d.builds, err = newBuildWatcher(d, o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, reconciler.WithBuildWatcher(d.builds))
	}
	d.reconciler = reconciler.New(reconciler.Config{
		Warnings:    warnings,
		Org:         o.org,
		Dir:         o.path,
		Ref:         o.ref,
		Mode:        vocab.Mode(o.mode),
		Interval:    o.interval,
		Jitter:      0.1,
		Concurrency: o.concurrency,
		MaxWrites:   o.maxWrites,
		Policy:      reconciler.Policy{Prune: o.prune, PruneLimit: o.pruneLimit},
	}, d.source, d.api, log, d.metrics, append(opts, d.feedback.reconcilerOptions()...)...)
	return d, nil
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// cacheDirFor gives each repository URL and ref its own clone under the
// cache directory, so that two configurations never share one.
func cacheDirFor(base, url, ref string) string {
	sum := sha256.Sum256([]byte(url + "\x00" + ref))
	return filepath.Join(base, hex.EncodeToString(sum[:8]))
}

// tokenSource picks the API credentials: CA_RECONCILER_TOKEN, else
// --token-file, else none.
func tokenSource(o *options, getenv env) (chainguard.TokenSource, error) {
	if tok, ok := getenv("CA_RECONCILER_TOKEN"); ok && tok != "" {
		if o.tokenFile != "" || o.identity != "" {
			return nil, fmt.Errorf("CA_RECONCILER_TOKEN is set together with --token-file or --identity; use one")
		}
		return chainguard.StaticToken(tok), nil
	}
	if o.tokenFile != "" {
		return chainguard.NewTokenFile(o.tokenFile), nil
	}
	if o.identity != "" {
		return &chainguard.WorkloadIdentity{
			Issuer:        o.issuer,
			Audience:      o.api,
			Identity:      o.identity,
			OIDCTokenFile: o.oidcTokenFile,
			Timeout:       o.apiTimeout,
		}, nil
	}
	return nil, nil
}

// selfNames names the identity the daemon calls the API as: --identity's
// UIDP, or what its token's claims name (a token file is re-read when it
// changes). A workload identity is named by --identity alone, so that a
// hook never waits on a token exchange.
func selfNames(identity string, tokens chainguard.TokenSource) func() []string {
	switch {
	case identity != "":
		return func() []string { return []string{identity} }
	case tokens == nil:
		return nil
	}
	if tok, ok := tokens.(chainguard.StaticToken); ok {
		names := chainguard.TokenNames(string(tok)) // a token given once never changes
		return func() []string { return names }
	}
	self := chainguard.NewSelf(tokens)
	return func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return self.Names(ctx)
	}
}

// gitFlagNames names the flags behind gitsource's settings, for its messages.
func gitFlagNames() map[gitsource.Field]string {
	return map[gitsource.Field]string{
		gitsource.FieldURL:                      "--git-url",
		gitsource.FieldRef:                      "--ref",
		gitsource.FieldPath:                     "--path",
		gitsource.FieldCacheDir:                 "--cache-dir",
		gitsource.FieldTimeout:                  "--git-timeout",
		gitsource.FieldUsername:                 "--git-username",
		gitsource.FieldPasswordFile:             "--git-password-file",
		gitsource.FieldSSHKeyFile:               "--git-ssh-key-file",
		gitsource.FieldSSHKeyPassphraseFile:     "--git-ssh-key-passphrase-file",
		gitsource.FieldKnownHostsFile:           "--git-known-hosts-file",
		gitsource.FieldInsecureSkipHostKeyCheck: "--git-insecure-skip-host-key-check",
		gitsource.FieldKeyring:                  "--verify-commits-keyring",
	}
}
