// Package metrics holds ca-reconciler's Prometheus collectors as one struct
// built on a registry the caller owns (never the default registry, where the
// SDK's connection library registers its own gRPC metrics), and the HTTP
// server for /metrics, /healthz, /readyz, /status and the HTML status page.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const namespace = "ca_reconciler"

// Metrics is every collector the daemon exports.
type Metrics struct {
	Reconciles              *prometheus.CounterVec
	ReconcileDuration       *prometheus.HistogramVec
	LastReconcile           prometheus.Gauge
	LastSuccessfulReconcile prometheus.Gauge
	Writes                  *prometheus.CounterVec
	Builds                  *prometheus.CounterVec
	BuildDuration           prometheus.Histogram
	BuildsInFlight          prometheus.Gauge
	Files                   *prometheus.GaugeVec
	IgnoredFiles            *prometheus.GaugeVec
	FileWarnings            prometheus.Gauge
	GitFetches              *prometheus.CounterVec
	GitFetchDuration        prometheus.Histogram
	SourceInfo              *prometheus.GaugeVec
	SourceCommitTimestamp   prometheus.Gauge
	SourceVerified          prometheus.Gauge
	APIRequests             *prometheus.CounterVec
	APIRequestDuration      *prometheus.HistogramVec
	BuildInfo               *prometheus.GaugeVec
	CommitToWrite           prometheus.Histogram
	WebhookRequests         *prometheus.CounterVec
	CommitStatusReports     *prometheus.CounterVec
	Notifications           *prometheus.CounterVec
	ChainguardEvents        *prometheus.CounterVec
	HeldRepos               *prometheus.GaugeVec
	LifecycleWrites         *prometheus.CounterVec
	// PerRepo is the collector of the series labelled by repo
	// (repo_status, drift_detected_total, repo_build_failed), which
	// SetRepoStatus, ObserveDrift, ObserveBuild and DeleteRepo change; for
	// tests to collect.
	PerRepo prometheus.Collector
	repos   *repoSeries
	// PackageCheck are the package check's collectors (packagecheck.go).
	PackageCheck *PackageCheckMetrics
}

// New creates the collectors on reg and pre-initialises every bounded label
// combination, from the lists in package vocab. Series labelled by repo are
// not pre-initialised: a repo has at most SeriesPerRepo of them, each made
// when it first has a value.
func New(reg prometheus.Registerer, version string) *Metrics {
	c := collectors{promauto.With(reg)}
	m := &Metrics{
		Reconciles:              c.counterVec("reconciles_total", "Reconcile cycles by what triggered them and how they ended.", "trigger", "result"),
		ReconcileDuration:       c.histogramVec("reconcile_duration_seconds", "Time spent in each phase of a reconcile cycle.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}, "phase"),
		LastReconcile:           c.gauge("last_reconcile_timestamp_seconds", "Unix time the last reconcile cycle finished."),
		LastSuccessfulReconcile: c.gauge("last_successful_reconcile_timestamp_seconds", "Unix time the last fully successful reconcile cycle finished."),
		Writes:                  c.counterVec("writes_total", "Overlay writes by result (per repo: /status and the logs).", "result"),
		Builds:                  c.counterVec("builds_total", "Completed builds by result (per repo: repo_build_failed, /status and the logs).", "result"),
		BuildDuration:           c.histogram("build_duration_seconds", "Duration of completed builds.", []float64{10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200}),
		BuildsInFlight:          c.gauge("builds_in_flight", "Builds started and not yet completed."),
		Files:                   c.gaugeVec("files", "Files under --path by state.", "state"),
		IgnoredFiles:            c.gaugeVec("ignored_files", "Entries under --path that manage no repo, by reason (nested, extension, hidden, symlink, submodule, irregular).", "reason"),
		FileWarnings:            c.gauge("file_warnings", "Warnings in the files under --path (the service accepts them and the files are applied; each is in /status, the page and the log)."),
		GitFetches:              c.counterVec("git_fetches_total", "Git source checks by result.", "result"),
		GitFetchDuration:        c.histogram("git_fetch_duration_seconds", "Time to check and fetch the Git source.", []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		SourceInfo:              c.gaugeVec("source_info", "The Git revision being reconciled (always 1).", "ref", "revision"),
		SourceCommitTimestamp:   c.gauge("source_commit_timestamp_seconds", "Commit time of the revision being reconciled."),
		SourceVerified:          c.gauge("source_verified", "1 when the head revision passed commit signature verification (or none is required), 0 when it was refused."),
		APIRequests:             c.counterVec("api_requests_total", "Chainguard API calls by method and gRPC code.", "method", "code"),
		APIRequestDuration:      c.histogramVec("api_request_duration_seconds", "Chainguard API call latency by method.", prometheus.DefBuckets, "method"),
		BuildInfo:               c.gaugeVec("build_info", "Version of the running binary (always 1).", "version", "go_version"),
		CommitToWrite:           c.histogram("commit_to_write_seconds", "Time from a revision's commit to the successful write of a repo it changed.", []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}),
		WebhookRequests:         c.counterVec("webhook_requests_total", "Webhook requests by provider and result.", "provider", "result"),
		CommitStatusReports:     c.counterVec("commit_status_reports_total", "Commit status reports by result (sent, retry, failed, duplicate, dropped).", "result"),
		Notifications:           c.counterVec("notifications_total", "Notifications by target (the position of its --notify-url, never the URL) and result (sent, retry, failed, duplicate, rate_limited, queue_full).", "target", "result"),
		ChainguardEvents:        c.counterVec("chainguard_events_total", "Chainguard CloudEvents at /hooks/chainguard by result (accepted, ignored, replayed, unauthorized, bad_request, too_large, bad_method, unavailable, busy, timeout).", "result"),
		HeldRepos:               c.gaugeVec("held_repos", "Repos that differ from Git but that the last cycle did not write, by reason (suspended: suspended and drifted; settings_invalid, prune_limit, no_files: refused by a guard).", "reason"),
		LifecycleWrites:         c.counterVec("lifecycle_writes_total", "Repos created from a source and pruned, by action and result (also counted in writes_total).", "action", "result"),
	}
	preset(m.Reconciles.WithLabelValues, labels(vocab.Triggers()), labels(vocab.CycleResults()))
	preset(m.ReconcileDuration.WithLabelValues, labels(vocab.Phases()))
	preset(m.Files.WithLabelValues, labels(vocab.FileStates()))
	preset(m.Writes.WithLabelValues, labels(vocab.WriteResults()))
	preset(m.Builds.WithLabelValues, labels(vocab.BuildResults()))
	preset(m.IgnoredFiles.WithLabelValues, labels(vocab.IgnoreReasons()))
	preset(m.GitFetches.WithLabelValues, labels(vocab.FetchResults()))
	preset(m.WebhookRequests.WithLabelValues, labels(vocab.WebhookProviders()), labels(vocab.WebhookResults()))
	preset(m.HeldRepos.WithLabelValues, labels(vocab.HoldReasons()))
	preset(m.LifecycleWrites.WithLabelValues, labels([]vocab.Action{vocab.ActionCreate, vocab.ActionPrune}), labels(vocab.WriteResults()))
	m.repos = newRepoSeries()
	m.PerRepo = m.repos
	reg.MustRegister(m.repos)
	m.PackageCheck = newPackageCheckMetrics(c)
	m.SourceVerified.Set(1)
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	return m
}

// ObserveAPIRequest records one Chainguard API call.
func (m *Metrics) ObserveAPIRequest(method, code string, seconds float64) {
	m.APIRequests.WithLabelValues(method, code).Inc()
	m.APIRequestDuration.WithLabelValues(method).Observe(seconds)
}

// SetRepoStatus moves a repo's status series from status from (empty for a
// repo seen for the first time) to status to: each repo has one series, for
// its current status.
func (m *Metrics) SetRepoStatus(repo string, _, to vocab.Status) {
	m.repos.update(repo, func(v *repoValues) { v.status = to })
}

// ObserveDrift counts one drift of a repo (drift_detected_total, whose
// series appears at the first).
func (m *Metrics) ObserveDrift(repo string) {
	m.repos.update(repo, func(v *repoValues) { v.drifts, v.drifted = v.drifts+1, true })
}

// ObserveWrite counts one overlay write.
func (m *Metrics) ObserveWrite(result vocab.WriteResult) {
	m.Writes.WithLabelValues(string(result)).Inc()
}

// ObserveLifecycleWrite counts one create or prune, in writes_total too.
func (m *Metrics) ObserveLifecycleWrite(action vocab.Action, result vocab.WriteResult) {
	m.ObserveWrite(result)
	m.LifecycleWrites.WithLabelValues(string(action), string(result)).Inc()
}

// SetHeld sets, for every hold reason, how many repos the last cycle held
// back for it (absent reasons are 0).
func (m *Metrics) SetHeld(n map[vocab.HoldReason]int) {
	for _, r := range vocab.HoldReasons() {
		m.HeldRepos.WithLabelValues(string(r)).Set(float64(n[r]))
	}
}

// DeleteRepo removes every series of a repo that is no longer managed;
// status is its current status.
func (m *Metrics) DeleteRepo(repo string, _ vocab.Status) {
	m.repos.delete(repo)
}

// SeriesPerRepo is the most series one repo has: its status, its last
// build (once one finished) and its drift counter (once it drifted).
const SeriesPerRepo = 3

// ObserveBuild records one finished build of a repo: its result (success,
// failure or timeout) and its duration in seconds, negative for a build that
// never completed (declared timed out while still pending), which is not
// observed.
func (m *Metrics) ObserveBuild(repo string, result vocab.BuildResult, seconds float64) {
	m.Builds.WithLabelValues(string(result)).Inc()
	if seconds >= 0 {
		m.BuildDuration.Observe(seconds)
	}
	last := buildSucceeded
	if result.Failed() {
		last = buildFailed
	}
	m.repos.update(repo, func(v *repoValues) { v.build = last })
}

// SetSource records the revision being reconciled.
func (m *Metrics) SetSource(ref, revision string, commitUnix float64) {
	m.SourceInfo.Reset()
	m.SourceInfo.WithLabelValues(ref, revision).Set(1)
	m.SourceCommitTimestamp.Set(commitUnix)
}
