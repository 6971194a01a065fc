package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

var _ packagecheck.Observer = (*metrics.PackageCheckMetrics)(nil)

// The package check's metrics follow what the checker tells its observer:
// index reads (calls, packages per architecture, errors) and checks (their
// status, the index's age, repos checked and refused); a check with nothing
// to check changes nothing.
func TestPackageCheckMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1").PackageCheck
	m.IndexRead(50, map[string]int{"x86_64": 5000, "aarch64": 4990}, nil)
	m.IndexRead(3, map[string]int{"x86_64": 400}, errors.New("listing packages: Unavailable"))
	m.Checked(vocab.PackageCheckChecked, 90*time.Second, 4, 1)
	m.Checked(vocab.PackageCheckChecked, 0, 0, 0)
	m.RefusedRepos.Set(1)
	want := `
# HELP ca_reconciler_package_check_refusals_total Repos the package check refused (each check that refused one counts once; which and why: /status, the page and the log).
# TYPE ca_reconciler_package_check_refusals_total counter
ca_reconciler_package_check_refusals_total 1
# HELP ca_reconciler_package_check_refused_repos Repos whose file the package check refuses now: not written until the file or the index changes.
# TYPE ca_reconciler_package_check_refused_repos gauge
ca_reconciler_package_check_refused_repos 1
# HELP ca_reconciler_package_check_repos_total Repos checked against the package index before being written.
# TYPE ca_reconciler_package_check_repos_total counter
ca_reconciler_package_check_repos_total 4
# HELP ca_reconciler_package_check_status 1 for the status of the last package check that had repos to check (checked, skipped, unavailable), 0 for the others.
# TYPE ca_reconciler_package_check_status gauge
ca_reconciler_package_check_status{status="checked"} 1
ca_reconciler_package_check_status{status="skipped"} 0
ca_reconciler_package_check_status{status="unavailable"} 0
# HELP ca_reconciler_package_checks_total Package checks of the repos about to be written, by status (checked, skipped: the identity lacks apk.list, unavailable: no index could be read).
# TYPE ca_reconciler_package_checks_total counter
ca_reconciler_package_checks_total{status="checked"} 1
ca_reconciler_package_checks_total{status="skipped"} 0
ca_reconciler_package_checks_total{status="unavailable"} 0
# HELP ca_reconciler_package_index_age_seconds Age of the package index the last package check used (it is read again after --package-index-interval).
# TYPE ca_reconciler_package_index_age_seconds gauge
ca_reconciler_package_index_age_seconds 90
# HELP ca_reconciler_package_index_calls_total ListAPKs calls (pages) made to read the package index.
# TYPE ca_reconciler_package_index_calls_total counter
ca_reconciler_package_index_calls_total 53
# HELP ca_reconciler_package_index_packages Packages (every version) in the package index by architecture, as last read.
# TYPE ca_reconciler_package_index_packages gauge
ca_reconciler_package_index_packages{arch="aarch64"} 4990
ca_reconciler_package_index_packages{arch="x86_64"} 5000
# HELP ca_reconciler_package_index_reads_total Reads of the organization's package index (every page of ListAPKs for every architecture) by result (success, error; a refused identity is an error and the check is skipped).
# TYPE ca_reconciler_package_index_reads_total counter
ca_reconciler_package_index_reads_total{result="error"} 1
ca_reconciler_package_index_reads_total{result="success"} 1
`
	names := []string{
		"ca_reconciler_package_check_refusals_total", "ca_reconciler_package_check_refused_repos", "ca_reconciler_package_check_repos_total",
		"ca_reconciler_package_check_status", "ca_reconciler_package_checks_total", "ca_reconciler_package_index_age_seconds",
		"ca_reconciler_package_index_calls_total", "ca_reconciler_package_index_packages", "ca_reconciler_package_index_reads_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// A skipped check flips the status series; the packages stay as last read.
	m.Checked(vocab.PackageCheckSkipped, 0, 0, 0)
	for s, v := range map[vocab.PackageCheckStatus]float64{vocab.PackageCheckChecked: 0, vocab.PackageCheckSkipped: 1, vocab.PackageCheckUnavailable: 0} {
		if got := testutil.ToFloat64(m.Status.WithLabelValues(string(s))); got != v {
			t.Errorf("package_check_status{status=%q} = %v, want %v", s, got, v)
		}
	}
	if got := testutil.ToFloat64(m.Checks.WithLabelValues("skipped")); got != 1 {
		t.Errorf("package_checks_total{status=skipped} = %v, want 1", got)
	}
}
