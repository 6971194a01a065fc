package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
)

// Paths, relative to the repository root.
const (
	kustomizeDir   = "deploy/kubernetes"
	baseDir        = "deploy/kubernetes/base"
	overlayDir     = "deploy/kubernetes/overlays/emulator"
	examplesDir    = "deploy/kubernetes/examples"
	chartDir       = "deploy/helm/ca-reconciler"
	alertsFile     = "deploy/helm/ca-reconciler/prometheus/alerts.yaml"
	dashboardFile  = "deploy/helm/ca-reconciler/grafana/ca-reconciler.json"
	workflowFile   = "examples/github-actions/ca-reconciler.yaml"
	namespace      = "ca-reconciler"
	releaseName    = "ca-reconciler"
	kubeVersion    = "1.33.0"
	helmInstall    = "go install helm.sh/helm/v3/cmd/helm@v3.22.0"
	kubectlInstall = "install kubectl (it embeds kustomize)"
)

// object is one manifest decoded strictly into its API type.
type object struct {
	source string // the file or render it came from, for messages
	meta   metav1.TypeMeta
	name   string
	ns     string
	value  any    // pointer to the typed value
	raw    []byte // the YAML document
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.meta.Kind, o.ns, o.name, o.source)
}

// ServiceMonitor and PrometheusRule of the Prometheus Operator
// (monitoring.coreos.com/v1), reduced to the fields this project uses, so
// strict decoding rejects anything else. Kept local instead of importing
// prometheus-operator, which would pull controller-runtime into the module.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port              string          `json:"port"`
			Path              string          `json:"path,omitempty"`
			Scheme            string          `json:"scheme,omitempty"`
			Interval          string          `json:"interval,omitempty"`
			ScrapeTimeout     string          `json:"scrapeTimeout,omitempty"`
			HonorLabels       bool            `json:"honorLabels,omitempty"`
			Relabelings       []relabelConfig `json:"relabelings,omitempty"`
			MetricRelabelings []relabelConfig `json:"metricRelabelings,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type relabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    string   `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

// ruleGroup is a Prometheus rule group as PrometheusRule spells it.
type ruleGroup struct {
	Name                    string            `json:"name"`
	Interval                string            `json:"interval,omitempty"`
	QueryOffset             string            `json:"query_offset,omitempty"`
	Limit                   *int              `json:"limit,omitempty"`
	PartialResponseStrategy string            `json:"partial_response_strategy,omitempty"`
	Labels                  map[string]string `json:"labels,omitempty"`
	Rules                   []struct {
		Record        string            `json:"record,omitempty"`
		Alert         string            `json:"alert,omitempty"`
		Expr          string            `json:"expr"`
		For           string            `json:"for,omitempty"`
		KeepFiringFor string            `json:"keep_firing_for,omitempty"`
		Labels        map[string]string `json:"labels,omitempty"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	} `json:"rules"`
}

// newTyped returns a pointer to the Go type of an apiVersion and kind.
func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Secret":
		return &corev1.Secret{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}, true
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}, true
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &serviceMonitor{}, true
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &prometheusRule{}, true
	}
	return nil, false
}

// decodeStrict splits a multi-document YAML stream and decodes every
// document into its API type, failing the test on unknown kinds, unknown or
// duplicate fields, and invalid names or labels.
func decodeStrict(t *testing.T, source string, data []byte) []object {
	t.Helper()
	var out []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: splitting YAML: %v", source, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Errorf("%s: %v", source, err)
			continue
		}
		if len(probe) == 0 {
			continue // only comments
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Errorf("%s: %v", source, err)
			continue
		}
		v, ok := newTyped(tm.APIVersion, tm.Kind)
		if !ok {
			t.Errorf("%s: unexpected kind %s %s", source, tm.APIVersion, tm.Kind)
			continue
		}
		if err := unmarshalStrict(doc, v); err != nil {
			t.Errorf("%s: %s: strict decoding: %v", source, tm.Kind, err)
			continue
		}
		om := objectMeta(v)
		o := object{source: source, meta: tm, name: om.Name, ns: om.Namespace, value: v, raw: doc}
		checkMeta(t, o, om)
		out = append(out, o)
	}
	return out
}

// unmarshalStrict decodes YAML the way the API server decodes a strict
// request: duplicate keys, unknown fields and fields in the wrong case
// (encoding/json would accept clusterIp for clusterIP) are errors.
func unmarshalStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func objectMeta(v any) *metav1.ObjectMeta {
	switch x := v.(type) {
	case *serviceMonitor:
		return &x.ObjectMeta
	case *prometheusRule:
		return &x.ObjectMeta
	case metav1.Object:
		return &metav1.ObjectMeta{Name: x.GetName(), Namespace: x.GetNamespace(), Labels: x.GetLabels(), Annotations: x.GetAnnotations()}
	}
	panic(fmt.Sprintf("no metadata in %T", v))
}

// checkMeta applies the API server's rules for names and labels.
func checkMeta(t *testing.T, o object, om *metav1.ObjectMeta) {
	t.Helper()
	if om.Name == "" {
		t.Errorf("%s: no metadata.name", o)
	}
	nameErrs := validation.IsDNS1123Subdomain(om.Name)
	if o.meta.Kind == "Service" || o.meta.Kind == "Namespace" {
		nameErrs = validation.IsDNS1123Label(om.Name)
	}
	for _, e := range nameErrs {
		t.Errorf("%s: name %q: %s", o, om.Name, e)
	}
	for k, v := range om.Labels {
		for _, e := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", o, k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s value %q: %s", o, k, v, e)
		}
	}
	for k := range om.Annotations {
		for _, e := range validation.IsQualifiedName(strings.ToLower(k)) {
			t.Errorf("%s: annotation key %q: %s", o, k, e)
		}
	}
}

// find returns the objects of one type, in render order.
func find[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// root is the repository root; tests run commands and read files from there.
func root(t *testing.T) string {
	t.Helper()
	return testbin.RepoRoot(t)
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// command runs a tool from the module root and returns its stdout.
func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	return stdout.Bytes()
}

// render is one rendering of the manifests: kustomize or helm, with its
// objects.
type render struct {
	name string
	objs []object
}

// kustomizeRenders renders the top-level kustomization, the base and the
// emulator overlay with `kubectl kustomize`.
func kustomizeRenders(t *testing.T) []render {
	t.Helper()
	kubectl := testbin.NeedTool(t, "kubectl", kubectlInstall)
	var out []render
	for _, dir := range []string{kustomizeDir, baseDir, overlayDir} {
		name := "kubectl kustomize " + dir
		out = append(out, render{name, decodeStrict(t, name, command(t, kubectl, "kustomize", dir))})
	}
	return out
}

// helmValueFiles are the values files the chart is rendered with: none (the
// defaults), then every file of the chart's ci/ folder.
func helmValueFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no values files in %s/ci", chartDir)
	}
	out := []string{""}
	for _, f := range files {
		rel, _ := filepath.Rel(root(t), f)
		out = append(out, rel)
	}
	return out
}

// helmRender runs `helm template` with a values file ("" for the defaults).
func helmRender(t *testing.T, helm, values string, extra ...string) render {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}
	name := "helm template (default values)"
	if values != "" {
		args = append(args, "-f", values)
		name = "helm template -f " + values
	}
	args = append(args, extra...)
	if len(extra) > 0 {
		name += " " + strings.Join(extra, " ")
	}
	return render{name, decodeStrict(t, name, command(t, helm, args...))}
}

func helmRenders(t *testing.T) []render {
	t.Helper()
	helm := testbin.NeedTool(t, "helm", helmInstall)
	var out []render
	for _, v := range helmValueFiles(t) {
		out = append(out, helmRender(t, helm, v))
	}
	return out
}

// cliFlags are the flags of each ca-reconciler subcommand, from --help.
type cliFlags map[string]map[string]string // command → flag name → env var

// envs returns the environment variables of a command's flags.
func (c cliFlags) envs(cmd string) map[string]string {
	out := map[string]string{}
	for f, e := range c[cmd] {
		out[e] = f
	}
	return out
}

// readFlags parses `ca-reconciler CMD --help` of the real binary (cobra's
// format; bindEnv adds "(env CA_RECONCILER_...)" to every usage).
func readFlags(t *testing.T, bin string) cliFlags {
	t.Helper()
	flagLine := regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9][a-z0-9-]*)\b(.*)$`)
	envOf := regexp.MustCompile(`\(env (CA_RECONCILER_[A-Z0-9_]+)\)`)
	out := cliFlags{}
	for _, cmd := range []string{"run", "plan", "validate", "emulator"} {
		help := command(t, bin, cmd, "--help")
		flags := map[string]string{}
		inFlags := false
		for _, line := range strings.Split(string(help), "\n") {
			switch {
			case strings.HasPrefix(line, "Flags:"):
				inFlags = true
				continue
			case line == "" || !strings.HasPrefix(line, " "):
				inFlags = false
			}
			if !inFlags {
				continue
			}
			m := flagLine.FindStringSubmatch(line)
			if m == nil || m[1] == "help" {
				continue
			}
			e := envOf.FindStringSubmatch(m[2])
			if e == nil {
				t.Errorf("ca-reconciler %s --help: flag --%s shows no (env CA_RECONCILER_...): %q", cmd, m[1], line)
				continue
			}
			flags[m[1]] = e[1]
		}
		if len(flags) == 0 && cmd != "validate" {
			t.Fatalf("ca-reconciler %s --help lists no flags:\n%s", cmd, help)
		}
		out[cmd] = flags
	}
	return out
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// tryCommand runs a tool from the module root and returns its combined
// output and error, for commands that are expected to fail.
func tryCommand(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
