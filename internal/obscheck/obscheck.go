// Package obscheck reads the Grafana dashboard and the Prometheus alert
// rules shipped in the Helm chart under deploy/, and finds the Prometheus binaries, for the
// tests that check them against the metrics the daemon really exports:
// offline with promtool, and live against a real Prometheus scraping the
// daemon. Only tests import it.
package obscheck

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Paths of the shipped files, relative to the module root.
const (
	DashboardFile  = "deploy/helm/ca-reconciler/grafana/ca-reconciler.json"
	AlertsFile     = "deploy/helm/ca-reconciler/prometheus/alerts.yaml"
	AlertTestsFile = "deploy/helm/ca-reconciler/prometheus/alerts_test.yaml"
)

// Root returns the module root: the nearest parent of the working directory
// holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("finding the module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Path returns a file of the module by its path from the root.
func Path(t testing.TB, rel string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

// Tool finds a Prometheus binary (prometheus, promtool) on PATH. When it is
// missing the test is skipped, except in CI (CI=true), where it fails:
// .ci/run installs Debian's prometheus package, so a missing binary there is
// a broken environment, not a reason to pass.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found on PATH (CI=true): install Debian's prometheus package (apt-get install prometheus): %v", name, err)
	}
	t.Skipf("%s not found on PATH; install Debian's prometheus package to run this test (it fails instead of skipping when CI=true)", name)
	return ""
}

// Query is one query of a dashboard panel.
type Query struct {
	Panel string // panel title
	RefID string
	// Expr is the PromQL with Grafana's variables replaced.
	Expr string
	// Instant is set for table panels that ask for an instant query.
	Instant bool
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is one dashboard panel.
type Panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID   string `json:"refId"`
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
	Panels []Panel `json:"panels"` // of a collapsed row
}

// LoadDashboard reads a dashboard file.
func LoadDashboard(path string) (Dashboard, error) {
	var d Dashboard
	data, err := os.ReadFile(path)
	if err != nil {
		return d, fmt.Errorf("reading dashboard: %w", err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("parsing dashboard %s: %w", path, err)
	}
	return d, nil
}

// AllPanels returns every panel, including those inside collapsed rows.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// DefaultVars are concrete values for the dashboard's variables and
// Grafana's built-in interval variables, for running its queries against a
// Prometheus that scrapes every second.
func DefaultVars() map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__range":         "1h",
		"job":             ".+",
		"repo":            ".+",
	}
}

var varRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)`)

// Substitute replaces Grafana variables ($name, ${name}, ${name:fmt},
// [[name]]) with vars; a variable without a value is an error.
func Substitute(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("expression %q uses variables without a value: %s", expr, strings.Join(missing, ", "))
	}
	return out, nil
}

// Queries returns every panel query with vars substituted.
func (d Dashboard) Queries(vars map[string]string) ([]Query, error) {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("panel %q query %s has no expression", p.Title, t.RefID)
			}
			e, err := Substitute(t.Expr, vars)
			if err != nil {
				return nil, fmt.Errorf("panel %q query %s: %w", p.Title, t.RefID, err)
			}
			out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: e, Instant: t.Instant})
		}
	}
	return out, nil
}

// Rule is one alerting or recording rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// RuleGroups is a Prometheus rule groups file.
type RuleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// LoadRules reads a rule groups file.
func LoadRules(path string) (RuleGroups, error) {
	var g RuleGroups
	data, err := os.ReadFile(path)
	if err != nil {
		return g, fmt.Errorf("reading rules: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		return g, fmt.Errorf("parsing rules %s: %w", path, err)
	}
	return g, nil
}

// Rules returns every rule of every group.
func (g RuleGroups) Rules() []Rule {
	var out []Rule
	for _, gr := range g.Groups {
		out = append(out, gr.Rules...)
	}
	return out
}

var metricRE = regexp.MustCompile(`\bca_reconciler_[a-z0-9_]+`)

// MetricNames returns the ca_reconciler_* names an expression uses, sorted.
func MetricNames(expr string) []string {
	set := map[string]bool{}
	for _, m := range metricRE.FindAllString(expr, -1) {
		set[m] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// RecordingRules renders exprs as a rule groups file of recording rules, so
// that `promtool check rules` parses queries that are not rules (dashboard
// panels) offline.
func RecordingRules(exprs []string) ([]byte, error) {
	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rec  `yaml:"rules"`
	}
	g := group{Name: "dashboard"}
	for i, e := range exprs {
		g.Rules = append(g.Rules, rec{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: e})
	}
	out, err := yaml.Marshal(struct {
		Groups []group `yaml:"groups"`
	}{[]group{g}})
	if err != nil {
		return nil, fmt.Errorf("rendering recording rules: %w", err)
	}
	return out, nil
}
