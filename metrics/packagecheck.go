package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// PackageCheckMetrics are the package check's collectors. It implements
// packagecheck.Observer (index reads and checks) and takes the number of
// repos the reconciler's plan refused. None of its series is per repo:
// which repos were refused, and why, is in /status, the page and the log.
type PackageCheckMetrics struct {
	IndexReads    *prometheus.CounterVec
	IndexCalls    prometheus.Counter
	IndexPackages *prometheus.GaugeVec
	IndexAge      prometheus.Gauge
	Checks        *prometheus.CounterVec
	Status        *prometheus.GaugeVec
	ReposChecked  prometheus.Counter
	Refusals      prometheus.Counter
	RefusedRepos  prometheus.Gauge
}

// Results of an index read: the result label of
// ca_reconciler_package_index_reads_total.
const (
	indexReadSuccess = "success"
	indexReadError   = "error"
)

func newPackageCheckMetrics(c collectors) *PackageCheckMetrics {
	m := &PackageCheckMetrics{
		IndexReads:    c.counterVec("package_index_reads_total", "Reads of the organization's package index (every page of ListAPKs for every architecture) by result (success, error; a refused identity is an error and the check is skipped).", "result"),
		IndexCalls:    c.counter("package_index_calls_total", "ListAPKs calls (pages) made to read the package index."),
		IndexPackages: c.gaugeVec("package_index_packages", "Packages (every version) in the package index by architecture, as last read.", "arch"),
		IndexAge:      c.gauge("package_index_age_seconds", "Age of the package index the last package check used (it is read again after --package-index-interval)."),
		Checks:        c.counterVec("package_checks_total", "Package checks of the repos about to be written, by status (checked, skipped: the identity lacks apk.list, unavailable: no index could be read).", "status"),
		Status:        c.gaugeVec("package_check_status", "1 for the status of the last package check that had repos to check (checked, skipped, unavailable), 0 for the others.", "status"),
		ReposChecked:  c.counter("package_check_repos_total", "Repos checked against the package index before being written."),
		Refusals:      c.counter("package_check_refusals_total", "Repos the package check refused (each check that refused one counts once; which and why: /status, the page and the log)."),
		RefusedRepos:  c.gauge("package_check_refused_repos", "Repos whose file the package check refuses now: not written until the file or the index changes."),
	}
	preset(m.IndexReads.WithLabelValues, []string{indexReadSuccess, indexReadError})
	// The architectures Chainguard builds (packagecheck.DefaultArchs), 0
	// until the index is read; a repo building another adds its own.
	preset(m.IndexPackages.WithLabelValues, []string{"x86_64", "aarch64"})
	preset(m.Checks.WithLabelValues, labels(vocab.PackageCheckStatuses()))
	preset(m.Status.WithLabelValues, labels(vocab.PackageCheckStatuses()))
	return m
}

// IndexRead records one read of the package index: the ListAPKs calls it
// made, the packages per architecture (kept from the last successful read
// when it failed) and its error.
func (m *PackageCheckMetrics) IndexRead(calls int, packages map[string]int, err error) {
	m.IndexCalls.Add(float64(calls))
	if err != nil {
		m.IndexReads.WithLabelValues(indexReadError).Inc()
		return
	}
	m.IndexReads.WithLabelValues(indexReadSuccess).Inc()
	for arch, n := range packages {
		m.IndexPackages.WithLabelValues(arch).Set(float64(n))
	}
}

// Checked records one check: its status, the age of the index it used
// (zero when none), the repos checked and refused. A check that had no
// repos (it costs nothing and asks the API nothing) changes nothing.
func (m *PackageCheckMetrics) Checked(status vocab.PackageCheckStatus, indexAge time.Duration, checked, refused int) {
	if status == vocab.PackageCheckChecked && checked == 0 {
		return
	}
	m.Checks.WithLabelValues(string(status)).Inc()
	for _, s := range vocab.PackageCheckStatuses() {
		v := 0.0
		if s == status {
			v = 1
		}
		m.Status.WithLabelValues(string(s)).Set(v)
	}
	if indexAge > 0 {
		m.IndexAge.Set(indexAge.Seconds())
	}
	m.ReposChecked.Add(float64(checked))
	m.Refusals.Add(float64(refused))
}
