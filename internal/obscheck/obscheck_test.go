package obscheck_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/internal/obscheck"
)

func TestSubstitute(t *testing.T) {
	vars := obscheck.DefaultVars()
	for _, c := range []struct{ in, want, err string }{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~".+"}[1m])`, ""},
		{`x{repo=~"${repo}"}[${__interval}]`, `x{repo=~".+"}[15s]`, ""},
		{`x{repo=~"${repo:regex}"} and [[job]]`, `x{repo=~".+"} and .+`, ""},
		{`x{a="$nope"}`, "", `expression "x{a=\"$nope\"}" uses variables without a value: nope`},
		{`x{a=~"b$"}`, `x{a=~"b$"}`, ""},
	} {
		got, err := obscheck.Substitute(c.in, vars)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Substitute(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	got := obscheck.MetricNames(`histogram_quantile(0.9, sum by (le) (rate(ca_reconciler_build_duration_seconds_bucket[1m]))) / ca_reconciler_files{state="valid"} + ca_reconciler_files`)
	if diff := cmp.Diff([]string{"ca_reconciler_build_duration_seconds_bucket", "ca_reconciler_files"}, got); diff != "" {
		t.Errorf("MetricNames (-want +got):\n%s", diff)
	}
}

func TestShippedFilesLoad(t *testing.T) {
	d, err := obscheck.LoadDashboard(obscheck.Path(t, obscheck.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.Queries(obscheck.DefaultVars())
	if err != nil || len(q) == 0 {
		t.Errorf("dashboard queries: %d, %v", len(q), err)
	}
	g, err := obscheck.LoadRules(obscheck.Path(t, obscheck.AlertsFile))
	if err != nil || len(g.Rules()) == 0 {
		t.Errorf("rules: %v", err)
	}
}
