package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
)

// TestRawManifestsDecodeStrictly decodes every plain manifest under
// deploy/kubernetes (not the kustomizations, not the emulator seed).
func TestRawManifestsDecodeStrictly(t *testing.T) {
	dir := filepath.Join(root(t), kustomizeDir)
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		switch d.Name() {
		case "kustomization.yaml", "seed.yaml":
			return nil
		}
		rel, _ := filepath.Rel(root(t), p)
		objs := decodeStrict(t, rel, readFile(t, rel))
		if len(objs) == 0 {
			t.Errorf("%s: no objects", rel)
		}
		n += len(objs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no manifests found")
	}
}

// TestExampleSecretsArePlaceholders keeps examples/secrets.yaml obviously
// fake and out of the base.
func TestExampleSecretsArePlaceholders(t *testing.T) {
	rel := examplesDir + "/secrets.yaml"
	secrets := find[corev1.Secret](decodeStrict(t, rel, readFile(t, rel)))
	want := map[string]corev1.SecretType{
		"ca-reconciler-token":     corev1.SecretTypeOpaque,
		"ca-reconciler-git-https": corev1.SecretTypeBasicAuth,
		"ca-reconciler-git-ssh":   corev1.SecretTypeSSHAuth,
		"ca-reconciler-webhook":   corev1.SecretTypeOpaque,
	}
	got := map[string]corev1.SecretType{}
	for _, s := range secrets {
		got[s.Name] = s.Type
		if s.Annotations["ca-reconciler/example"] == "" {
			t.Errorf("Secret %s lacks the ca-reconciler/example annotation", s.Name)
		}
		for k, v := range s.StringData {
			if !strings.Contains(v, "EXAMPLE") && k != "username" {
				t.Errorf("Secret %s key %s does not look like a placeholder: %q", s.Name, k, v)
			}
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("example Secrets (-want +got):\n%s", d)
	}
	// Keys the Deployment reads must exist in the examples.
	keys := map[string][]string{
		"ca-reconciler-token":     {"token"},
		"ca-reconciler-git-https": {"username", "password"},
		"ca-reconciler-git-ssh":   {"ssh-privatekey", "known_hosts"},
		"ca-reconciler-webhook":   {"secret"},
	}
	for _, s := range secrets {
		for _, k := range keys[s.Name] {
			if _, ok := s.StringData[k]; !ok {
				t.Errorf("Secret %s has no key %s", s.Name, k)
			}
		}
	}
	for _, r := range kustomizeRenders(t) {
		for _, s := range find[corev1.Secret](r.objs) {
			if _, ok := keys[s.Name]; ok {
				t.Errorf("%s: the example Secret %s is part of the output", r.name, s.Name)
			}
		}
	}
}

func TestKustomize(t *testing.T) {
	renders := kustomizeRenders(t)
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			checkRender(t, r)
			if len(find[corev1.Namespace](r.objs)) != 1 {
				t.Errorf("want one Namespace")
			}
			for _, o := range r.objs {
				if o.meta.Kind != "Namespace" && o.ns != namespace {
					t.Errorf("%s: namespace %q, want %q", o, o.ns, namespace)
				}
			}
		})
	}
	byName := map[string]render{}
	for _, r := range renders {
		byName[r.name] = r
	}
	base := byName["kubectl kustomize "+baseDir]
	top := byName["kubectl kustomize "+kustomizeDir]
	if d := cmp.Diff(docs(base.objs), docs(top.objs)); d != "" {
		t.Errorf("deploy/kubernetes and its base render differently (-base +top):\n%s", d)
	}
	if n := len(find[serviceMonitor](base.objs)); n != 1 {
		t.Errorf("base: %d ServiceMonitors, want 1", n)
	}
	if n := len(find[prometheusRule](base.objs)); n != 1 {
		t.Errorf("base: %d PrometheusRules, want 1", n)
	}
	if n := len(dashboards(base.objs)); n != 1 {
		t.Errorf("base: %d dashboard ConfigMaps, want 1", n)
	}

	emu := byName["kubectl kustomize "+overlayDir]
	if n := len(find[serviceMonitor](emu.objs)) + len(find[prometheusRule](emu.objs)); n != 0 {
		t.Errorf("emulator overlay keeps %d Prometheus Operator objects; a bare kind cluster has no CRDs for them", n)
	}
	checkEmulatorWiring(t, emu, "ca-reconciler", "ca-reconciler-emulator")
}

// docs returns the YAML documents of objects, for comparing renders.
func docs(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, string(o.raw))
	}
	return out
}

// checkEmulatorWiring checks that the daemon talks to the emulator Service
// with the token the emulator requires, and that the emulator loads its seed.
func checkEmulatorWiring(t *testing.T, r render, daemon, emulator string) {
	t.Helper()
	var emuPod, daemonPod *pod
	for _, p := range pods(r.objs) {
		switch p.name {
		case daemon:
			daemonPod = &p
		case emulator:
			emuPod = &p
		}
	}
	if emuPod == nil || daemonPod == nil {
		t.Fatalf("%s: want Deployments %s and %s", r.name, daemon, emulator)
	}
	denv := resolveEnv(t, r, daemonPod.container("ca-reconciler"))
	if got, want := denv["CA_RECONCILER_API"], "http://"+emulator+":8080"; got != want {
		t.Errorf("%s: daemon CA_RECONCILER_API %q, want %q", r.name, got, want)
	}
	if denv["CA_RECONCILER_INSECURE"] != "true" {
		t.Errorf("%s: daemon needs CA_RECONCILER_INSECURE=true for plaintext to the emulator", r.name)
	}
	for _, k := range []string{"CA_RECONCILER_IDENTITY", "CA_RECONCILER_OIDC_TOKEN_FILE", "CA_RECONCILER_TOKEN_FILE"} {
		if _, ok := denv[k]; ok {
			t.Errorf("%s: daemon sets %s; against the emulator it uses the demo token", r.name, k)
		}
	}
	ec := emuPod.container("emulator")
	if ec == nil {
		t.Fatalf("%s: no container named emulator", r.name)
	}
	if len(ec.Args) == 0 || ec.Args[0] != "emulator" {
		t.Errorf("%s: emulator args %q", r.name, ec.Args)
	}
	args := strings.Join(ec.Args, " ")
	if !strings.Contains(args, "--listen 0.0.0.0:8080") {
		t.Errorf("%s: emulator must listen on 0.0.0.0:8080: %s", r.name, args)
	}
	seed := argValue(ec.Args, "--seed")
	if seed == "" || !underMount(emuPod.spec, ec, seed) {
		t.Errorf("%s: emulator --seed %q is not in a mounted volume", r.name, seed)
	}
	// Both sides carry the same token secret.
	tokenRef := func(c *corev1.Container) string {
		for _, e := range c.Env {
			if e.Name == "CA_RECONCILER_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		return ""
	}
	if a, b := tokenRef(daemonPod.container("ca-reconciler")), tokenRef(ec); a == "" || a != b {
		t.Errorf("%s: daemon token %q and emulator token %q differ", r.name, a, b)
	}
	var svc *corev1.Service
	for _, s := range find[corev1.Service](r.objs) {
		if s.Name == emulator {
			svc = s
		}
	}
	if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("%s: want Service %s on port 8080", r.name, emulator)
	}
	// The daemon's NetworkPolicies must let it reach 8080.
	ok := false
	for _, np := range find[networkingv1.NetworkPolicy](r.objs) {
		if !selects(&np.Spec.PodSelector, daemonPod.labels) {
			continue
		}
		for _, e := range np.Spec.Egress {
			for _, p := range e.Ports {
				if p.Port != nil && p.Port.IntValue() == 8080 {
					ok = true
				}
			}
		}
	}
	if !ok {
		t.Errorf("%s: no NetworkPolicy lets the daemon reach the emulator on 8080", r.name)
	}
}

// pod is a pod template with where it came from.
type pod struct {
	kind, name string
	spec       *corev1.PodSpec
	labels     map[string]string
	deployment *appsv1.Deployment
	cronJob    *batchv1.CronJob
}

func (p pod) container(name string) *corev1.Container {
	for i := range p.spec.Containers {
		if p.spec.Containers[i].Name == name {
			return &p.spec.Containers[i]
		}
	}
	return nil
}

func pods(objs []object) []pod {
	var out []pod
	for _, o := range objs {
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			out = append(out, pod{kind: "Deployment", name: v.Name, spec: &v.Spec.Template.Spec, labels: v.Spec.Template.Labels, deployment: v})
		case *batchv1.CronJob:
			tpl := &v.Spec.JobTemplate.Spec.Template
			out = append(out, pod{kind: "CronJob", name: v.Name, spec: &tpl.Spec, labels: tpl.Labels, cronJob: v})
		}
	}
	return out
}

// selects reports whether a label selector (empty: everything) matches.
func selects(s *metav1.LabelSelector, lbls map[string]string) bool {
	sel, err := metaSelector(s)
	return err == nil && sel.Matches(labels.Set(lbls))
}

func metaSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}

func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// underMount reports whether file lies in a volume mounted into c, and
// names an item that volume actually provides.
func underMount(spec *corev1.PodSpec, c *corev1.Container, file string) bool {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			return volumeHas(v, rel)
		}
	}
	return false
}

func volumeHas(v corev1.Volume, rel string) bool {
	itemPaths := func(items []corev1.KeyToPath) bool {
		if len(items) == 0 {
			return !strings.Contains(rel, "/")
		}
		for _, it := range items {
			if it.Path == rel {
				return true
			}
		}
		return false
	}
	switch {
	case v.Secret != nil:
		return itemPaths(v.Secret.Items)
	case v.ConfigMap != nil:
		return itemPaths(v.ConfigMap.Items)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == rel {
				return true
			}
		}
		return false
	default:
		return true // emptyDir and others: anything can be there
	}
}

// resolveEnv returns a container's environment as the kubelet would set it
// from env and envFrom (values from Secrets and the downward API shown as
// "<from ...>"). A ConfigMap it names must be in the render unless optional.
func resolveEnv(t *testing.T, r render, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		found := false
		for _, cm := range find[corev1.ConfigMap](r.objs) {
			if cm.Name == ef.ConfigMapRef.Name {
				found = true
				for k, v := range cm.Data {
					env[ef.Prefix+k] = v
				}
			}
		}
		if !found && (ef.ConfigMapRef.Optional == nil || !*ef.ConfigMapRef.Optional) {
			t.Errorf("%s: container %s reads ConfigMap %s, which is not rendered", r.name, c.Name, ef.ConfigMapRef.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "<from secret " + e.ValueFrom.SecretKeyRef.Name + ">"
		default:
			env[e.Name] = "<from downward API>"
		}
	}
	return env
}

// dashboards returns the ConfigMaps for the Grafana sidecar.
func dashboards(objs []object) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, cm := range find[corev1.ConfigMap](objs) {
		if cm.Labels["grafana_dashboard"] == "1" {
			out = append(out, cm)
		}
	}
	return out
}

// checkRender applies the rules every rendering must follow.
func checkRender(t *testing.T, r render) {
	t.Helper()
	var daemons int
	for _, p := range pods(r.objs) {
		checkPodSecurity(t, r, p)
		if c := p.container("ca-reconciler"); c != nil {
			daemons++
			checkDaemon(t, r, p, c)
		}
	}
	if daemons != 1 {
		t.Errorf("%s: %d daemon workloads, want exactly 1", r.name, daemons)
	}
	checkServices(t, r)
	checkNetworkPolicies(t, r)
	checkPrometheusRules(t, r)
	for _, cm := range dashboards(r.objs) {
		var got, want any
		if err := json.Unmarshal([]byte(cm.Data["ca-reconciler.json"]), &got); err != nil {
			t.Errorf("%s: dashboard ConfigMap %s: %v", r.name, cm.Name, err)
		}
		if err := json.Unmarshal(readFile(t, dashboardFile), &want); err != nil {
			t.Fatalf("%s: %v", dashboardFile, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: dashboard ConfigMap %s differs from %s (-want +got):\n%s", r.name, cm.Name, dashboardFile, d)
		}
	}
	for _, sa := range find[corev1.ServiceAccount](r.objs) {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("%s: ServiceAccount %s automounts an API token; the daemon never calls the Kubernetes API", r.name, sa.Name)
		}
	}
}

// checkPodSecurity holds every pod to the "restricted" Pod Security Standard
// and more: read-only root, no service account token, requests and limits.
func checkPodSecurity(t *testing.T, r render, p pod) {
	t.Helper()
	where := r.name + ": " + p.kind + " " + p.name
	s := p.spec
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", where)
	}
	ps := s.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 {
		t.Errorf("%s: pod securityContext must set runAsNonRoot and runAsUser 65532", where)
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", where)
	}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: hostPath volume %s", where, v.Name)
		}
	}
	for _, c := range append(append([]corev1.Container{}, s.InitContainers...), s.Containers...) {
		cw := where + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", cw)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", cw)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", cw)
		}
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
			t.Errorf("%s: runAsNonRoot and runAsUser 65532", cw)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", cw)
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || !cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: capabilities must drop ALL and add none", cw)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile must be RuntimeDefault", cw)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", cw, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", cw)
		}
		if c.Image == "" {
			t.Errorf("%s: no image", cw)
		}
	}
}

// checkDaemon checks the ca-reconciler container of the daemon workload.
func checkDaemon(t *testing.T, r render, p pod, c *corev1.Container) {
	t.Helper()
	where := r.name + ": " + p.kind + " " + p.name
	env := resolveEnv(t, r, c)
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q overrides the image entrypoint", where, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Errorf("%s: args %q, want run first (images built by ko have no CMD)", where, c.Args)
	}
	// The binary sets its Go memory limit from the cgroup (90% of the
	// container's limit); a GOMEMLIMIT here would override that with 100%.
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			t.Errorf("%s: GOMEMLIMIT set; the binary derives it from the container's memory limit", where)
		}
	}
	for _, k := range []string{"CA_RECONCILER_GIT_URL", "CA_RECONCILER_ORG", "CA_RECONCILER_CACHE_DIR", "CA_RECONCILER_LISTEN"} {
		if _, ok := env[k]; !ok && !strings.HasPrefix(r.name, "helm template (default") {
			t.Errorf("%s: %s is not set", where, k)
		}
	}
	// The Git clone lives in an emptyDir mounted at --cache-dir.
	cache := env["CA_RECONCILER_CACHE_DIR"]
	cacheOK := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == cache {
			for _, v := range p.spec.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil {
					cacheOK = true
				}
			}
		}
	}
	if !cacheOK {
		t.Errorf("%s: CA_RECONCILER_CACHE_DIR %q is not an emptyDir mount", where, cache)
	}
	tmpOK := false
	for _, m := range c.VolumeMounts {
		tmpOK = tmpOK || m.MountPath == "/tmp"
	}
	if !tmpOK {
		t.Errorf("%s: no writable /tmp on a read-only root filesystem", where)
	}
	// Every file flag points at a file a volume provides.
	for k, v := range env {
		if !strings.HasPrefix(k, "CA_RECONCILER_") {
			continue
		}
		if strings.HasSuffix(k, "_FILE") || k == "CA_RECONCILER_VERIFY_COMMITS_KEYRING" || k == "CA_RECONCILER_EMULATOR_SEED" {
			if !underMount(p.spec, c, v) {
				t.Errorf("%s: %s=%s is not a file of a mounted volume", where, k, v)
			}
		}
	}
	// Workload identity: a projected token for issuer.enforce.dev.
	if f, ok := env["CA_RECONCILER_OIDC_TOKEN_FILE"]; ok {
		if env["CA_RECONCILER_IDENTITY"] == "" {
			t.Errorf("%s: CA_RECONCILER_OIDC_TOKEN_FILE without CA_RECONCILER_IDENTITY", where)
		}
		found := false
		for _, m := range c.VolumeMounts {
			for _, v := range p.spec.Volumes {
				if v.Name != m.Name || v.Projected == nil {
					continue
				}
				for _, s := range v.Projected.Sources {
					if sat := s.ServiceAccountToken; sat != nil && path.Join(m.MountPath, sat.Path) == f {
						found = sat.Audience == "issuer.enforce.dev"
					}
				}
			}
		}
		if !found {
			t.Errorf("%s: %s is not a projected service account token with audience issuer.enforce.dev", where, f)
		}
	}
	if p.deployment != nil {
		d := p.deployment
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("%s: replicas must be 1 (one writer)", where)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: strategy %q, want Recreate (never two writers)", where, d.Spec.Strategy.Type)
		}
		var port int32
		for _, cp := range c.Ports {
			if cp.Name == "http" {
				port = cp.ContainerPort
			}
		}
		if port == 0 {
			t.Fatalf("%s: no container port named http", where)
		}
		if got, want := env["CA_RECONCILER_LISTEN"], fmt.Sprintf(":%d", port); got != want {
			t.Errorf("%s: CA_RECONCILER_LISTEN %q, want %q (the http port)", where, got, want)
		}
		probe := func(name string, pr *corev1.Probe, wantPath string) {
			if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != wantPath || pr.HTTPGet.Port.String() != "http" {
				t.Errorf("%s: %s probe must GET %s on port http", where, name, wantPath)
			}
		}
		probe("liveness", c.LivenessProbe, "/healthz")
		probe("readiness", c.ReadinessProbe, "/readyz")
	}
	if p.cronJob != nil {
		if env["CA_RECONCILER_ONCE"] != "true" {
			t.Errorf("%s: a CronJob must run --once (CA_RECONCILER_ONCE=true)", where)
		}
		if p.spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q, want Never", where, p.spec.RestartPolicy)
		}
	} else if _, ok := env["CA_RECONCILER_ONCE"]; ok {
		t.Errorf("%s: a Deployment must not set CA_RECONCILER_ONCE (it would exit and restart forever)", where)
	}
}

// checkServices checks that Services select a pod and name its ports, and
// that ServiceMonitors select a Service and name its port.
func checkServices(t *testing.T, r render) {
	t.Helper()
	ps := pods(r.objs)
	svcs := find[corev1.Service](r.objs)
	for _, s := range svcs {
		var target *pod
		for i := range ps {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(ps[i].labels)) && ps[i].deployment != nil {
				target = &ps[i]
			}
		}
		if target == nil {
			t.Errorf("%s: Service %s selects no Deployment's pods", r.name, s.Name)
			continue
		}
		for _, sp := range s.Spec.Ports {
			found := false
			for _, c := range target.spec.Containers {
				for _, cp := range c.Ports {
					found = found || (sp.TargetPort.Type == intstr.String && cp.Name == sp.TargetPort.StrVal) || cp.ContainerPort == sp.TargetPort.IntVal
				}
			}
			if !found {
				t.Errorf("%s: Service %s port %s targets %s, which %s does not expose", r.name, s.Name, sp.Name, sp.TargetPort.String(), target.name)
			}
		}
	}
	for _, sm := range find[serviceMonitor](r.objs) {
		sel, err := metaSelector(&sm.Spec.Selector)
		if err != nil {
			t.Errorf("%s: ServiceMonitor %s: %v", r.name, sm.Name, err)
			continue
		}
		matched := false
		for _, s := range svcs {
			if !sel.Matches(labels.Set(s.Labels)) {
				continue
			}
			matched = true
			for _, ep := range sm.Spec.Endpoints {
				ok := false
				for _, sp := range s.Spec.Ports {
					ok = ok || sp.Name == ep.Port
				}
				if !ok {
					t.Errorf("%s: ServiceMonitor %s scrapes port %q, which Service %s does not name", r.name, sm.Name, ep.Port, s.Name)
				}
				if ep.Path != "/metrics" {
					t.Errorf("%s: ServiceMonitor %s path %q, want /metrics", r.name, sm.Name, ep.Path)
				}
			}
		}
		if !matched {
			t.Errorf("%s: ServiceMonitor %s selects no Service", r.name, sm.Name)
		}
	}
}

// checkNetworkPolicies checks the daemon's policy: in on the container's
// ports only (http, and hooks when they have their own); out to DNS, 443 and 22 (plus what a render adds on purpose).
func checkNetworkPolicies(t *testing.T, r render) {
	t.Helper()
	var daemon *pod
	for _, p := range pods(r.objs) {
		if p.container("ca-reconciler") != nil {
			daemon = &p
		}
	}
	if daemon == nil {
		return
	}
	// The container's ports: http, and hooks when the hooks have a port of
	// their own (webhook.port).
	var ports []int
	for _, cp := range daemon.container("ca-reconciler").Ports {
		ports = append(ports, int(cp.ContainerPort))
	}
	if len(ports) == 0 {
		ports = []int{9090}
	}
	slices.Sort(ports)
	var main *networkingv1.NetworkPolicy
	for _, np := range find[networkingv1.NetworkPolicy](r.objs) {
		if selects(&np.Spec.PodSelector, daemon.labels) && len(np.Spec.Ingress) > 0 {
			main = np
		}
	}
	if main == nil {
		if !strings.Contains(r.name, "helm") {
			t.Errorf("%s: no NetworkPolicy with ingress rules selects the daemon", r.name)
		}
		return
	}
	if d := cmp.Diff([]networkingv1.PolicyType{"Ingress", "Egress"}, main.Spec.PolicyTypes); d != "" {
		t.Errorf("%s: NetworkPolicy %s policyTypes (-want +got):\n%s", r.name, main.Name, d)
	}
	for _, in := range main.Spec.Ingress {
		var got []int
		for _, p := range in.Ports {
			if p.Port == nil {
				got = append(got, -1) // every port
				continue
			}
			got = append(got, p.Port.IntValue())
		}
		slices.Sort(got)
		if !slices.Equal(got, ports) {
			t.Errorf("%s: NetworkPolicy %s lets in ports %v, want the container's ports %v only", r.name, main.Name, got, ports)
		}
	}
	want := map[string]bool{"UDP/53": true, "TCP/53": true, "TCP/443": true, "TCP/22": true}
	got := map[string]bool{}
	for _, e := range main.Spec.Egress {
		if len(e.To) > 0 {
			continue // extra, targeted rules (the emulator, extraEgress)
		}
		for _, p := range e.Ports {
			got[string(*p.Protocol)+"/"+p.Port.String()] = true
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: NetworkPolicy %s egress to anywhere (-want +got):\n%s", r.name, main.Name, d)
	}
}

// checkPrometheusRules compares every PrometheusRule with
// the chart's prometheus/alerts.yaml.
func checkPrometheusRules(t *testing.T, r render) {
	t.Helper()
	want := alertGroups(t)
	forEachRuleSpec(t, r, func(o object, spec map[string]any) {
		if d := cmp.Diff(want, spec); d != "" {
			t.Errorf("%s: PrometheusRule %s differs from %s (-want +got):\n%s", r.name, o.name, alertsFile, d)
		}
	})
}

// forEachRuleSpec hands f every PrometheusRule that r renders, with its
// spec as generic YAML.
func forEachRuleSpec(t *testing.T, r render, f func(o object, spec map[string]any)) {
	t.Helper()
	for _, o := range r.objs {
		if o.meta.Kind != "PrometheusRule" {
			continue
		}
		var pr struct {
			Spec map[string]any `json:"spec"`
		}
		if err := yaml.Unmarshal(o.raw, &pr); err != nil {
			t.Fatal(err)
		}
		f(o, pr.Spec)
	}
}

// alertGroups is the chart's prometheus/alerts.yaml as generic YAML.
func alertGroups(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(readFile(t, alertsFile), &m); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return m
}

// TestPromtoolChecksRules runs `promtool check rules` on the rules of every
// rendered PrometheusRule.
func TestPromtoolChecksRules(t *testing.T) {
	promtool := testbin.NeedTool(t, "promtool", "apt-get install prometheus")
	var all []render
	all = append(all, kustomizeRenders(t)...)
	all = append(all, helmRenders(t)...)
	n := 0
	for _, r := range all {
		forEachRuleSpec(t, r, func(o object, spec map[string]any) {
			b, err := yaml.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
			if err != nil {
				t.Errorf("%s: PrometheusRule %s: promtool check rules: %v\n%s", r.name, o.name, err, out)
			}
			n++
		})
	}
	if n == 0 {
		t.Fatal("no PrometheusRule rendered")
	}
}
