package metrics_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/internal/obscheck"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// families returns every family metrics.New registers, by name, with every
// vector touched so that it is gathered.
func families(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.SetRepoStatus("r", "", vocab.StatusSynced)
	m.ObserveDrift("r")
	m.ObserveBuild("r", vocab.BuildFailure, 10)
	m.ObserveAPIRequest("Registry.ListRepos", "OK", 0.1)
	m.SetSource("main", "abc", 1)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// exported reports whether a series name used in a query is one the daemon
// exports: a family, or a histogram's _bucket, _sum or _count.
func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fams[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

func loadDashboard(t *testing.T) obscheck.Dashboard {
	t.Helper()
	d, err := obscheck.LoadDashboard(obscheck.Path(t, obscheck.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func loadRules(t *testing.T) []obscheck.Rule {
	t.Helper()
	g, err := obscheck.LoadRules(obscheck.Path(t, obscheck.AlertsFile))
	if err != nil {
		t.Fatal(err)
	}
	return g.Rules()
}

// TestDashboardAndAlertsUseExportedMetrics fails when a panel or an alert
// names a metric the daemon does not export (a rename, a typo).
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	fams := families(t)
	queries, err := loadDashboard(t).Queries(obscheck.DefaultVars())
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	check := func(where, expr string) {
		names := obscheck.MetricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q uses no ca_reconciler_ metric", where, expr)
		}
		for _, n := range names {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
			if !exported(fams, n) {
				t.Errorf("%s: %q uses %s, which the daemon does not export", where, expr, n)
			}
		}
	}
	for _, q := range queries {
		check("panel "+q.Panel+" "+q.RefID, q.Expr)
	}
	for _, r := range loadRules(t) {
		check("alert "+r.Alert, r.Expr)
	}
	// Every family the issue asks the dashboard for is on it.
	for _, want := range []string{
		"ca_reconciler_repo_status", "ca_reconciler_repo_build_failed", "ca_reconciler_drift_detected_total",
		"ca_reconciler_writes_total", "ca_reconciler_builds_total", "ca_reconciler_reconcile_duration_seconds",
		"ca_reconciler_git_fetches_total", "ca_reconciler_api_requests_total", "ca_reconciler_commit_to_write_seconds",
		"ca_reconciler_package_check_refused_repos", "ca_reconciler_package_check_status",
	} {
		if !used[want] {
			t.Errorf("no panel or alert uses %s", want)
		}
	}
}

func TestDashboardLayout(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "ca-reconciler" || d.Title != "ca-reconciler" {
		t.Errorf("uid %q title %q, want ca-reconciler", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no datasource variable: panels would be tied to one Prometheus")
	}
	ids := map[int]string{}
	titles := map[string]bool{}
	for _, p := range d.AllPanels() {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		titles[p.Title] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q datasource %s, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	// The views the issue asks for.
	for _, want := range []string{
		"Repos by status", "Repo status", "Drifted repos", "Drift events", "Writes by result",
		"Build results", "Last build failed", "Reconcile duration by phase (p90)", "Git fetch results",
		"API errors by method and code", "Commit to write", "Repos refused by the package check",
	} {
		if !titles[want] {
			t.Errorf("dashboard has no panel %q", want)
		}
	}
}

// TestDashboardQueriesParse parses every panel query with promtool, offline.
// The end-to-end test in cmd/ca-reconciler also runs them against a real
// Prometheus.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := obscheck.Tool(t, "promtool")
	queries, err := loadDashboard(t).Queries(obscheck.DefaultVars())
	if err != nil {
		t.Fatal(err)
	}
	exprs := make([]string, len(queries))
	for i, q := range queries {
		exprs[i] = q.Expr
	}
	rules, err := obscheck.RecordingRules(exprs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}

// TestAlertRules runs `promtool check rules` and the alerts' unit tests
// (`promtool test rules`).
func TestAlertRules(t *testing.T) {
	promtool := obscheck.Tool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", obscheck.Path(t, obscheck.AlertsFile)},
		{"test", "rules", obscheck.Path(t, obscheck.AlertTestsFile)},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertIsTested fails when an alert has no unit test that shows it
// firing.
func TestEveryAlertIsTested(t *testing.T) {
	data, err := os.ReadFile(obscheck.Path(t, obscheck.AlertTestsFile))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var names []string
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		names = append(names, r.Alert)
		if !firing[r.Alert] || !silent[r.Alert] {
			t.Errorf("alert %s: alerts_test.yaml must show it firing and silent (firing tested: %v, silent tested: %v)", r.Alert, firing[r.Alert], silent[r.Alert])
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s: needs a severity label and summary and description annotations", r.Alert)
		}
	}
	sort.Strings(names)
	for _, want := range []string{
		"CAReconcilerBuildFailing", "CAReconcilerGitUnreachable", "CAReconcilerNotReconciling",
		"CAReconcilerReconcileFailing", "CAReconcilerRepoDrifted", "CAReconcilerRepoStalled",
	} {
		if i := sort.SearchStrings(names, want); i == len(names) || names[i] != want {
			t.Errorf("no alert %s", want)
		}
	}
}
