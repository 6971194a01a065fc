package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// DefaultAPI is the Chainguard API.
const DefaultAPI = "https://console-api.enforce.dev"

const chainguardDefaultIssuer = chainguard.DefaultIssuer

// minInterval is the floor of --interval and --build-poll-interval: a
// shorter one would only load the API (and a typo such as 1ns would list
// every repo hundreds of times a second).
const minInterval = time.Second

// options are the flags shared by run and plan.
type options struct {
	log logOptions

	gitURL   string
	ref      string
	path     string
	cacheDir string

	gitUsername              string
	gitPasswordFile          string
	gitSSHKeyFile            string
	gitSSHKeyPassphraseFile  string
	gitKnownHostsFile        string
	gitInsecureSkipHostCheck bool
	gitTimeout               time.Duration
	verifyKeyring            string

	identity      string
	oidcTokenFile string
	issuer        string

	webhookSecretFile string
	webhookListen     string

	org          string
	api          string
	apiTimeout   time.Duration
	insecure     bool
	tokenFile    string
	emulatorSeed string

	interval    time.Duration
	mode        string
	listen      string
	pprof       bool
	once        bool
	concurrency int
	maxWrites   int

	buildTimeout      time.Duration
	buildPollInterval time.Duration

	prune      bool
	pruneLimit int

	packageCheck         bool
	packageIndexInterval time.Duration

	feedback feedbackOptions
}

func (o *options) addSourceFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.gitURL, "git-url", "", "Git repository holding the overlay files: https://, ssh://, user@host:path, file:// or a local path (required)")
	fs.StringVar(&o.ref, "ref", "", "branch, tag or full commit hash to follow (default the remote's HEAD)")
	fs.StringVar(&o.path, "path", "ca-images-iac", "folder in the repository whose NAME.yaml files manage repo NAME")
	fs.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "directory for Git clones (one per repository URL and ref); survives restarts")
	fs.StringVar(&o.gitUsername, "git-username", "", "user for HTTPS basic auth (default the URL's user, else \"git\")")
	fs.StringVar(&o.gitPasswordFile, "git-password-file", "", "file holding the HTTPS password or access token, re-read on every fetch")
	fs.StringVar(&o.gitSSHKeyFile, "git-ssh-key-file", "", "private key for ssh:// and user@host:path URLs")
	fs.StringVar(&o.gitSSHKeyPassphraseFile, "git-ssh-key-passphrase-file", "", "file holding the SSH key's passphrase")
	fs.StringVar(&o.gitKnownHostsFile, "git-known-hosts-file", "", "known_hosts file the SSH host key is verified against (required for SSH)")
	fs.BoolVar(&o.gitInsecureSkipHostCheck, "git-insecure-skip-host-key-check", false, "accept any SSH host key (logs a warning every cycle)")
	fs.DurationVar(&o.gitTimeout, "git-timeout", 60*time.Second, "timeout of each Git network operation")
	fs.StringVar(&o.verifyKeyring, "verify-commits-keyring", "", "file of armored OpenPGP public keys; act only on commits signed by one of them")
}

func (o *options) addAPIFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.org, "org", "", "Chainguard organization, by name or id (required)")
	fs.StringVar(&o.api, "api", DefaultAPI, "Chainguard API URL, or \"local\" to start the embedded emulator")
	fs.DurationVar(&o.apiTimeout, "api-timeout", 30*time.Second, "deadline of each Chainguard API call")
	fs.BoolVar(&o.insecure, "insecure", false, "allow plaintext http:// to an API host that is not loopback (logs a warning every cycle)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the Chainguard API token, re-read when it changes (or set CA_RECONCILER_TOKEN)")
	fs.StringVar(&o.identity, "identity", "", "assumable Chainguard identity (UIDP) for workload identity; needs --oidc-token-file")
	fs.StringVar(&o.oidcTokenFile, "oidc-token-file", "", "OIDC token (Kubernetes projected service account token or CI OIDC token, audience issuer.enforce.dev) to exchange for --identity")
	fs.StringVar(&o.issuer, "issuer", chainguardDefaultIssuer, "Chainguard token issuer (security token service) for workload identity")
	fs.StringVar(&o.emulatorSeed, "emulator-seed", "", "with --api local: seed file (orgs, repos, package catalog) for the embedded emulator")
}

// addPruneFlags adds the flags of pruning, which run and plan share.
func (o *options) addPruneFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.prune, "prune", false, "reset to the empty overlay every repo whose file is gone, when a file under --path once named it (Git history); see --prune-limit")
	fs.IntVar(&o.pruneLimit, "prune-limit", reconciler.DefaultPruneLimit, "with --prune, the most repos one cycle prunes: a cycle that would prune more prunes none (and run --once exits 1)")
}

func (o *options) addLogFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.log.format, "log-format", "json", "log format: json or console")
	fs.StringVar(&o.log.level, "log-level", "info", "log level: debug, info, warn or error")
}

func (o *options) addRunFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.interval, "interval", time.Minute, "time between cycles (jittered by up to 10%; at least 1s)")
	fs.StringVar(&o.mode, "mode", "apply", "apply (write drifted repos) or detect (only report drift)")
	fs.StringVar(&o.listen, "listen", ":9090", "address for /metrics, /healthz, /readyz, /status and /")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve Go's profiles at /debug/pprof/ on --listen (CPU, heap, goroutines; for diagnosing, keep it off otherwise)")
	fs.DurationVar(&o.buildTimeout, "build-timeout", time.Hour, "build limit: a build pending longer counts as timed out and is no longer followed")
	fs.DurationVar(&o.buildPollInterval, "build-poll-interval", 15*time.Second, "time between build-report polls while builds are in flight (one call per organization; at least 1s)")
	fs.BoolVar(&o.once, "once", false, "run one cycle, then exit: 0 in sync, 1 on any error, 2 on drift left (detect mode); it serves nothing and follows no build, and warns of the serving flags it was given")
	fs.IntVar(&o.concurrency, "concurrency", 4, "maximum concurrent repo writes")
	fs.StringVar(&o.webhookListen, "webhook-listen", "", "serve the hooks (/hooks/...) on this address alone, with connections of their own, instead of on --listen: a flood of hook connections then cannot starve probes and scrapes")
	fs.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "enables POST /hooks/github, /hooks/gitlab and /hooks/generic, verified with the secret in this file")
	fs.IntVar(&o.maxWrites, "max-writes", 3, "writes of one desired overlay that may fail to converge before the repo is stalled")
	o.feedback.addFlags(fs)
}

func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ca-reconciler")
	}
	return filepath.Join(os.TempDir(), "ca-reconciler")
}

// check validates the flags common to run and plan.
func (o *options) check() error {
	if o.gitURL == "" {
		return fmt.Errorf("--git-url is required")
	}
	if o.org == "" {
		return fmt.Errorf("--org is required")
	}
	if o.apiTimeout <= 0 {
		return fmt.Errorf("--api-timeout must be positive")
	}
	if o.emulatorSeed != "" && o.api != "local" {
		return fmt.Errorf("--emulator-seed needs --api local")
	}
	if (o.identity == "") != (o.oidcTokenFile == "") {
		return fmt.Errorf("--identity and --oidc-token-file go together")
	}
	if o.identity != "" && o.tokenFile != "" {
		return fmt.Errorf("use one of --token-file and --identity")
	}
	if o.gitTimeout <= 0 {
		return fmt.Errorf("--git-timeout must be positive")
	}
	if o.prune && o.pruneLimit < 1 {
		return fmt.Errorf("--prune-limit must be at least 1")
	}
	return o.checkPackageCheck()
}

func (o *options) checkRun() error {
	if err := o.check(); err != nil {
		return err
	}
	switch vocab.Mode(o.mode) {
	case vocab.ModeApply, vocab.ModeDetect:
	default:
		return fmt.Errorf("--mode %q: want apply or detect", o.mode)
	}
	if o.interval < minInterval {
		return fmt.Errorf("--interval %s is below the minimum of %s (each cycle lists every repo of the organization)", o.interval, minInterval)
	}
	if o.buildTimeout <= 0 {
		return fmt.Errorf("--build-timeout must be positive")
	}
	if o.buildPollInterval < minInterval {
		return fmt.Errorf("--build-poll-interval %s is below the minimum of %s", o.buildPollInterval, minInterval)
	}
	if o.concurrency <= 0 {
		return fmt.Errorf("--concurrency must be positive")
	}
	if o.maxWrites <= 0 {
		return fmt.Errorf("--max-writes must be positive")
	}
	return o.feedback.check(o.gitURL)
}
