package deploy_test

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
)

// tokenEnv is the one CA_RECONCILER_ variable that is not a flag of run
// and plan: the Chainguard API token (for emulator it is --token).
const tokenEnv = "CA_RECONCILER_TOKEN"

// TestAgainstBinary checks the manifests, the chart and the docs against the
// real binary: its flags (from --help) and its emulator (the seeds).
func TestAgainstBinary(t *testing.T) {
	bin := testbin.Build(t, "deploy-test")
	flags := readFlags(t, bin)
	t.Run("manifest flags exist", func(t *testing.T) {
		var renders []render
		renders = append(renders, kustomizeRenders(t)...)
		renders = append(renders, helmRenders(t)...)
		for _, r := range renders {
			checkContainerFlags(t, r, flags)
		}
	})
	t.Run("documented flags exist", func(t *testing.T) { checkTextFlags(t, flags) })
	t.Run("helm values reach every run flag", func(t *testing.T) { checkHelmReachesEveryFlag(t, flags) })
	t.Run("helm config keys are run flags", func(t *testing.T) { checkHelmConfigKeys(t, flags) })
	t.Run("emulator loads the seeds", func(t *testing.T) { checkSeeds(t, bin) })
}

// checkContainerFlags checks every ca-reconciler container: its args and
// every CA_RECONCILER_ variable must be a flag of the subcommand it runs.
func checkContainerFlags(t *testing.T, r render, flags cliFlags) {
	t.Helper()
	for _, p := range pods(r.objs) {
		for i := range p.spec.Containers {
			c := &p.spec.Containers[i]
			if len(c.Args) == 0 {
				t.Errorf("%s: %s %s container %s: no args (the subcommand)", r.name, p.kind, p.name, c.Name)
				continue
			}
			cmd := c.Args[0]
			known, ok := flags[cmd]
			if !ok {
				t.Errorf("%s: %s %s container %s: unknown subcommand %q", r.name, p.kind, p.name, c.Name, cmd)
				continue
			}
			for _, a := range c.Args[1:] {
				if name, ok := strings.CutPrefix(a, "--"); ok {
					name, _, _ = strings.Cut(name, "=")
					if _, ok := known[name]; !ok {
						t.Errorf("%s: %s %s: `ca-reconciler %s` has no flag --%s", r.name, p.kind, p.name, cmd, name)
					}
				}
			}
			envs := flags.envs(cmd)
			for k := range resolveEnv(t, r, c) {
				if !strings.HasPrefix(k, "CA_RECONCILER_") || k == tokenEnv {
					continue
				}
				if _, ok := envs[k]; !ok {
					t.Errorf("%s: %s %s: %s is not a flag of `ca-reconciler %s`", r.name, p.kind, p.name, k, cmd)
				}
			}
		}
	}
}

// checkTextFlags scans the deployment files and docs: every CA_RECONCILER_
// name must be a flag's variable, and every `ca-reconciler CMD --flag` must
// use a flag CMD has.
func checkTextFlags(t *testing.T, flags cliFlags) {
	t.Helper()
	allEnvs := map[string]bool{tokenEnv: true}
	for cmd := range flags {
		for e := range flags.envs(cmd) {
			allEnvs[e] = true
		}
	}
	envRE := regexp.MustCompile(`CA_RECONCILER_[A-Z0-9_]*[A-Z0-9]`)
	cmdRE := regexp.MustCompile(`(?:^|[\s/"'(` + "`" + `])ca-reconciler (run|plan|validate|emulator)\b(.*)`)
	flagRE := regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	files := textFiles(t)
	if len(files) == 0 {
		t.Fatal("no files to scan")
	}
	for _, rel := range files {
		text := strings.ReplaceAll(string(readFile(t, rel)), "\\\n", " ")
		for i, line := range strings.Split(text, "\n") {
			for _, e := range envRE.FindAllString(line, -1) {
				if !allEnvs[e] {
					t.Errorf("%s:%d: %s is not the variable of any ca-reconciler flag", rel, i+1, e)
				}
			}
			for _, m := range cmdRE.FindAllStringSubmatch(line, -1) {
				for _, f := range flagRE.FindAllStringSubmatch(m[2], -1) {
					if _, ok := flags[m[1]][f[1]]; !ok && f[1] != "help" {
						t.Errorf("%s:%d: `ca-reconciler %s` has no flag --%s", rel, i+1, m[1], f[1])
					}
				}
			}
		}
	}
}

// textFiles are the files the deployment owns that mention flags.
func textFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"deploy", "examples/github-actions"} {
		err := filepath.WalkDir(filepath.Join(root(t), dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(p) {
			case ".go":
				return nil
			case ".yaml", ".yml", ".env", ".md", ".txt", ".tpl", ".json", "":
				rel, _ := filepath.Rel(root(t), p)
				out = append(out, rel)
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return append(out, ".ko.yaml")
}

// checkHelmReachesEveryFlag renders the chart with every values file of
// ci/ and requires each flag of `run` to reach the daemon's environment in
// at least one of them.
func checkHelmReachesEveryFlag(t *testing.T, flags cliFlags) {
	t.Helper()
	reached := map[string]string{}
	for _, r := range helmRenders(t) {
		for _, p := range pods(r.objs) {
			if c := p.container("ca-reconciler"); c != nil {
				for k := range resolveEnv(t, r, c) {
					reached[k] = r.name
				}
			}
		}
	}
	for _, f := range sortedKeys(flags["run"]) {
		if _, ok := reached[flags["run"][f]]; !ok {
			t.Errorf("no values file in %s/ci sets --%s (%s): give it a value in values.yaml (config or a credential setting) and set it in ci/full-values.yaml", chartDir, f, flags["run"][f])
		}
	}
}

// checkHelmConfigKeys requires every key of values.yaml's config to be a
// flag of run (the chart turns config.gitUrl into CA_RECONCILER_GIT_URL).
func checkHelmConfigKeys(t *testing.T, flags cliFlags) {
	t.Helper()
	var values struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(readFile(t, chartDir+"/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	if len(values.Config) == 0 {
		t.Fatal("values.yaml has no config")
	}
	for k := range values.Config {
		if _, ok := flags["run"][kebab(k)]; !ok {
			t.Errorf("values.yaml config.%s: `ca-reconciler run` has no flag --%s", k, kebab(k))
		}
	}
}

// kebab turns a camelCase values key into a flag name: gitUrl → git-url.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkSeeds loads every emulator seed the manifests ship into the real
// emulator, and checks that it holds the organization and the repos the
// trial's daemon reconciles.
func checkSeeds(t *testing.T, bin string) {
	t.Helper()
	examples, err := filepath.Glob(filepath.Join(root(t), "examples/ca-images-iac/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"examples/seed.yaml", chartDir + "/files/emulator-seed.yaml"} {
		var seed struct {
			Orgs []struct {
				Name  string `json:"name"`
				Repos []struct {
					Name string `json:"name"`
				} `json:"repos"`
			} `json:"orgs"`
		}
		if err := yaml.Unmarshal(readFile(t, rel), &seed); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		repos := map[string]bool{}
		for _, o := range seed.Orgs {
			if o.Name == "example-org" {
				for _, r := range o.Repos {
					repos[r.Name] = true
				}
			}
		}
		created := exampleSources(t)
		for _, e := range examples {
			name := strings.TrimSuffix(filepath.Base(e), ".yaml")
			if strings.HasPrefix(name, ".") {
				continue // the settings file, not an overlay
			}
			if !repos[name] && !created[name] {
				t.Errorf("%s: organization example-org has no repo %s (examples/ca-images-iac/%s.yaml)", rel, name, name)
			}
		}
		startEmulator(t, bin, filepath.Join(root(t), rel))
	}
}

// exampleSources are the repos that examples/ca-images-iac/.ca-reconciler.yaml
// gives a source: the daemon creates them, so the seed need not hold them.
func exampleSources(t *testing.T) map[string]bool {
	t.Helper()
	var settings struct {
		Repos map[string]struct {
			Source string `json:"source"`
		} `json:"repos"`
	}
	if err := yaml.Unmarshal(readFile(t, "examples/ca-images-iac/.ca-reconciler.yaml"), &settings); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for name, r := range settings.Repos {
		if r.Source != "" {
			out[name] = true
		}
	}
	return out
}

// startEmulator runs `ca-reconciler emulator --seed FILE` until it listens,
// then stops it with SIGTERM.
func startEmulator(t *testing.T, bin, seed string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "emulator", "--listen", "127.0.0.1:0", "--seed", seed)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	listening := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "emulator listening on ") {
			listening = true
			break
		}
	}
	if !listening {
		_ = cmd.Wait()
		t.Errorf("ca-reconciler emulator --seed %s did not start:\n%s", seed, stderr.String())
		return
	}
	// The seed is applied before the emulator listens: it loaded. Stop it;
	// it may die of the signal before its handler is installed.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	_ = cmd.Wait()
}
