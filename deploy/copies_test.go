package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateEnv, set to 1, makes TestCopiesInSync rewrite the copies.
const updateEnv = "UPDATE_COPIES"

// copyRule derives one file from another. kustomize and Helm only read files
// inside their own folder, so the alert rules, the dashboard and the
// emulator seed are copied in; this keeps the copies exact.
type copyRule struct {
	from, to string
	derive   func([]byte) []byte
}

func copyRules() []copyRule {
	same := func(b []byte) []byte { return b }
	return []copyRule{
		{alertsFile, baseDir + "/prometheusrule.yaml", prometheusRuleFromAlerts},
		{dashboardFile, baseDir + "/dashboards/ca-reconciler.json", same},
		{"examples/seed.yaml", overlayDir + "/seed.yaml", same},
		{overlayDir + "/seed.yaml", chartDir + "/files/emulator-seed.yaml", same},
	}
}

// prometheusRuleFromAlerts wraps a Prometheus rule groups file in a
// PrometheusRule: the groups file's text, minus its leading comments,
// indented under spec.
func prometheusRuleFromAlerts(alerts []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from deploy/helm/ca-reconciler/prometheus/alerts.yaml: do not edit; edit that file and run
#   UPDATE_COPIES=1 go test ./deploy -run TestCopiesInSync
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: ca-reconciler
  labels:
    app.kubernetes.io/name: ca-reconciler
spec:
`)
	lines := strings.Split(strings.TrimRight(string(alerts), "\n"), "\n")
	for len(lines) > 0 && (strings.HasPrefix(lines[0], "#") || strings.TrimSpace(lines[0]) == "") {
		lines = lines[1:]
	}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + l + "\n")
	}
	return b.Bytes()
}

func TestCopiesInSync(t *testing.T) {
	update := os.Getenv(updateEnv) == "1"
	for _, c := range copyRules() {
		src, err := os.ReadFile(filepath.Join(root(t), c.from))
		if os.IsNotExist(err) && c.from == "examples/seed.yaml" {
			t.Logf("%s does not exist yet; %s is the seed until it does", c.from, c.to)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want := c.derive(src)
		dst := filepath.Join(root(t), c.to)
		got, err := os.ReadFile(dst)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Equal(got, want) {
			continue
		}
		if update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("updated %s from %s", c.to, c.from)
			continue
		}
		t.Errorf("%s is out of date with %s: run %s=1 go test ./deploy -run TestCopiesInSync", c.to, c.from, updateEnv)
	}
}
