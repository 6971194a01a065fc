package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
)

func TestHelmLint(t *testing.T) {
	helm := testbin.NeedTool(t, "helm", helmInstall)
	for _, v := range helmValueFiles(t) {
		args := []string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}
		if v != "" {
			args = append(args, "-f", v)
		}
		out := command(t, helm, args...)
		if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestHelmTemplate(t *testing.T) {
	renders := helmRenders(t)
	got := map[string]render{}
	for _, r := range renders {
		got[r.name] = r
		t.Run(r.name, func(t *testing.T) { checkRender(t, r) })
	}
	kinds := func(r render) map[string]int {
		out := map[string]int{}
		for _, o := range r.objs {
			out[o.meta.Kind]++
		}
		return out
	}
	for _, tc := range []struct {
		render string
		kinds  map[string]int
	}{
		{"helm template (default values)", map[string]int{
			"ConfigMap": 1, "Deployment": 1, "NetworkPolicy": 1, "Service": 1, "ServiceAccount": 1,
		}},
		{"helm template -f " + chartDir + "/ci/full-values.yaml", map[string]int{
			"ConfigMap": 3, "Deployment": 1, "Ingress": 1, "NetworkPolicy": 1, "PrometheusRule": 1,
			"Service": 1, "ServiceAccount": 1, "ServiceMonitor": 1,
		}},
		{"helm template -f " + chartDir + "/ci/cronjob-values.yaml", map[string]int{
			"ConfigMap": 1, "CronJob": 1, "NetworkPolicy": 1, "ServiceAccount": 1,
		}},
		{"helm template -f " + chartDir + "/ci/emulator-values.yaml", map[string]int{
			"ConfigMap": 2, "Deployment": 2, "NetworkPolicy": 2, "Secret": 1, "Service": 2, "ServiceAccount": 1,
		}},
	} {
		r, ok := got[tc.render]
		if !ok {
			t.Errorf("no render %q", tc.render)
			continue
		}
		if d := cmp.Diff(tc.kinds, kinds(r)); d != "" {
			t.Errorf("%s: kinds (-want +got):\n%s", tc.render, d)
		}
	}
	if r, ok := got["helm template -f "+chartDir+"/ci/emulator-values.yaml"]; ok {
		checkEmulatorWiring(t, r, releaseName, releaseName+"-emulator")
	}
	if r, ok := got["helm template -f "+chartDir+"/ci/full-values.yaml"]; ok {
		checkFullValues(t, r)
	}
	if r, ok := got["helm template -f "+chartDir+"/ci/cronjob-values.yaml"]; ok {
		cj := find[batchv1.CronJob](r.objs)
		if len(cj) == 1 && (cj[0].Spec.JobTemplate.Spec.BackoffLimit == nil || *cj[0].Spec.JobTemplate.Spec.BackoffLimit != 0) {
			t.Errorf("CronJob: backoffLimit must be 0 (exit 2 means drift, not a crash to retry)")
		}
	}
}

// checkFullValues checks that the values of ci/full-values.yaml arrive.
func checkFullValues(t *testing.T, r render) {
	t.Helper()
	for _, cm := range dashboards(r.objs) {
		if cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Platform" {
			t.Errorf("dashboard ConfigMap %s/%s annotations %v: grafana.dashboard.namespace/annotations not applied", cm.Namespace, cm.Name, cm.Annotations)
		}
	}
	for _, ing := range find[networkingv1.Ingress](r.objs) {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Path != "/hooks/" {
					t.Errorf("Ingress %s exposes %s; only /hooks/ may be public", ing.Name, p.Path)
				}
			}
		}
	}
	for _, p := range pods(r.objs) {
		c := p.container("ca-reconciler")
		if c == nil {
			continue
		}
		want := "registry.example.com/platform/ca-reconciler@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		if c.Image != want {
			t.Errorf("image %q, want %q (digest wins over tag)", c.Image, want)
		}
		user := ""
		for _, e := range c.Env {
			if e.Name == "CA_RECONCILER_GIT_USERNAME" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				user = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		if user != "git-https-credentials/user" {
			t.Errorf("CA_RECONCILER_GIT_USERNAME from %q, want git-https-credentials/user", user)
		}
	}
}

// TestHelmRejectsConflictingAuth checks the chart's own validation.
func TestHelmRejectsConflictingAuth(t *testing.T) {
	helm := testbin.NeedTool(t, "helm", helmInstall)
	for _, tc := range []struct {
		set  string
		want string
	}{
		{"auth.workloadIdentity.enabled=true", "auth.workloadIdentity.identity is required when auth.workloadIdentity.enabled"},
		{"auth.workloadIdentity.enabled=true,auth.workloadIdentity.identity=x,auth.token.existingSecret=t", "auth: choose one of auth.workloadIdentity.enabled and auth.token.existingSecret"},
		{"emulator.enabled=true,auth.token.existingSecret=t", "emulator.enabled uses a demo token"},
		{"config.mode=both", "value must be one of 'apply', 'detect'"},
		{"config.gitURL=x", "additional properties 'gitURL' not allowed"},
		{"webhook.port=9292", "webhook.port serves the hooks: set webhook.existingSecret or config.chainguardEvents"},
		{"webhook.port=9090,webhook.existingSecret=s", "webhook.port must differ from containerPort"},
		{"webhook.port=9090,containerPort=8080,webhook.existingSecret=s", "webhook.port must differ from service.port (the Service publishes both)"},
		{"webhook.port=80,service.port=80,webhook.existingSecret=s", "webhook.port must differ from service.port (the Service publishes both)"},
	} {
		out, err := tryCommand(t, helm, "template", releaseName, chartDir, "--kube-version", kubeVersion, "--set", tc.set)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("helm template --set %s: err %v, output %q; want an error containing %q", tc.set, err, out, tc.want)
		}
	}
}

// TestHelmNotes renders templates/NOTES.txt (helm template skips it) by
// wrapping it in a ConfigMap in a copy of the chart.
func TestHelmNotes(t *testing.T) {
	helm := testbin.NeedTool(t, "helm", helmInstall)
	chart := filepath.Join(t.TempDir(), "ca-reconciler")
	if err := os.CopyFS(chart, os.DirFS(filepath.Join(root(t), chartDir))); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(chart, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := `{{- define "test.notes" -}}` + string(notes) + `{{- end }}`
	if err := os.WriteFile(filepath.Join(chart, "templates", "_test_notes.tpl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	wrap := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include \"test.notes\" . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(chart, "templates", "test-notes.yaml"), []byte(wrap), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values string
		want   []string
		not    []string
	}{
		{"", []string{
			"kubectl -n ca-reconciler port-forward svc/ca-reconciler 9090:9090",
			"/status",
			"ca_reconciler_repo_drifted",
			"ca-reconciler plan --git-url . --path ca-images-iac",
			"WARNING: config.gitUrl is empty",
			"WARNING: config.org is empty",
			"WARNING: no Chainguard credentials",
			"Mode: detect",
		}, nil},
		{filepath.Join(root(t), chartDir, "ci/full-values.yaml"), []string{
			"port-forward svc/ca-reconciler 9090:80",
			"Mode: apply.",
			"ServiceMonitor ca-reconciler",
			"PrometheusRule ca-reconciler",
			"/hooks/github",
		}, []string{"WARNING"}},
		{filepath.Join(root(t), chartDir, "ci/cronjob-values.yaml"), []string{"as a CronJob"}, []string{"port-forward", "WARNING"}},
	} {
		args := []string{"template", releaseName, chart, "--namespace", namespace, "--kube-version", kubeVersion, "--show-only", "templates/test-notes.yaml"}
		if tc.values != "" {
			args = append(args, "-f", tc.values)
		}
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal(command(t, helm, args...), &cm); err != nil {
			t.Fatal(err)
		}
		text := cm.Data["notes"]
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("NOTES with %q lacks %q:\n%s", tc.values, w, text)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(text, w) {
				t.Errorf("NOTES with %q contains %q:\n%s", tc.values, w, text)
			}
		}
	}
}

// TestHelmSchemaCoversValues keeps values.yaml and values.schema.json in
// step: every value has a schema entry, and the schema allows no key that
// values.yaml lacks.
func TestHelmSchemaCoversValues(t *testing.T) {
	var values map[string]any
	if err := yaml.Unmarshal(readFile(t, chartDir+"/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(readFile(t, chartDir+"/values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, v map[string]any, s map[string]any)
	walk = func(prefix string, v map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		if props == nil {
			return // free-form object (labels, affinity, ...)
		}
		for k, val := range v {
			sub, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("values.schema.json has no entry for %s%s", prefix, k)
				continue
			}
			if m, ok := val.(map[string]any); ok {
				walk(prefix+k+".", m, sub)
			}
		}
		for k := range props {
			if _, ok := v[k]; !ok && !(prefix == "" && k == "global") {
				t.Errorf("values.schema.json allows %s%s, which values.yaml does not have", prefix, k)
			}
		}
	}
	walk("", values, schema)
}
