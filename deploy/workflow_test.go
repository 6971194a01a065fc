package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// workflow is the part of a GitHub Actions workflow the example uses.
// GitHub reads YAML 1.2 (`on` is a string key), hence yaml.v3.
type workflow struct {
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency map[string]any    `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]struct {
		RunsOn         string            `yaml:"runs-on"`
		TimeoutMinutes int               `yaml:"timeout-minutes"`
		Permissions    map[string]string `yaml:"permissions"`
		Steps          []workflowStep    `yaml:"steps"`
	} `yaml:"jobs"`
}

type workflowStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

func readWorkflow(t *testing.T) workflow {
	t.Helper()
	var w workflow
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, workflowFile))))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%s: %v", workflowFile, err)
	}
	return w
}

func TestWorkflow(t *testing.T) {
	w := readWorkflow(t)
	if _, ok := w.On["pull_request"]; !ok || len(w.On) != 1 {
		t.Errorf("on: %v, want only pull_request", w.On)
	}
	if len(w.Permissions) != 0 {
		t.Errorf("top-level permissions %v, want {} (each job asks for its own)", w.Permissions)
	}
	job, ok := w.Jobs["plan"]
	if !ok {
		t.Fatal("no job plan")
	}
	want := map[string]string{"contents": "read", "id-token": "write", "pull-requests": "write"}
	for k, v := range want {
		if job.Permissions[k] != v {
			t.Errorf("permissions.%s = %q, want %q", k, job.Permissions[k], v)
		}
	}
	if len(job.Permissions) != len(want) {
		t.Errorf("permissions %v, want exactly %v", job.Permissions, want)
	}
	all := ""
	for _, s := range job.Steps {
		all += s.Run + "\n"
		if s.Run == "" {
			continue
		}
		// GitHub runs `bash --noprofile --norc -eo pipefail {0}`.
		cmd := exec.Command("bash", "-n", "-o", "pipefail")
		cmd.Stdin = strings.NewReader(s.Run)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("step %q: bash -n: %v\n%s", s.Name, err, out)
		}
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %q: ${{ }} in a run script (script injection); pass values through env", s.Name)
		}
	}
	for _, w := range []string{
		"go install \"github.com/ca-reconciler/ca-reconciler/cmd/ca-reconciler@",
		"ca-reconciler validate ",
		"ca-reconciler plan -o text",
		"--identity ",
		"--oidc-token-file ",
		"audience=issuer.enforce.dev",
		"ACTIONS_ID_TOKEN_REQUEST_URL",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("the steps never run %q", w)
		}
	}
}

// TestWorkflowExitCodes runs the workflow's plan and gate scripts with a
// fake ca-reconciler: drift (2) passes and is reported, an error (1) fails.
func TestWorkflowExitCodes(t *testing.T) {
	w := readWorkflow(t)
	var plan, gate workflowStep
	for _, s := range w.Jobs["plan"].Steps {
		switch {
		case s.ID == "plan":
			plan = s
		case strings.HasPrefix(s.Name, "Fail on errors"):
			gate = s
		}
	}
	if plan.Run == "" || gate.Run == "" {
		t.Fatal("no plan step or no gate step")
	}
	for _, tc := range []struct {
		code     string
		gateFail bool
		summary  string
	}{
		{"0", false, "No changes"},
		{"2", false, "Merging this pull request will write the repos below."},
		{"1", true, "ca-reconciler plan failed (exit 1)"},
	} {
		t.Run("exit "+tc.code, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			fake := "#!/bin/sh\necho \"~ repo python: +curl\"\necho \"some log\" >&2\nexit " + tc.code + "\n"
			if err := os.WriteFile(filepath.Join(bin, "ca-reconciler"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(),
				"PATH="+bin+":"+os.Getenv("PATH"),
				"RUNNER_TEMP="+dir,
				"GITHUB_OUTPUT="+filepath.Join(dir, "output"),
				"GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary"),
				"HEAD_SHA=abc123",
			)
			for k, v := range w.Env {
				env = append(env, k+"="+v)
			}
			run := func(script string, extra ...string) error {
				cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
				cmd.Dir = dir
				cmd.Env = append(env, extra...)
				out, err := cmd.CombinedOutput()
				t.Logf("%s", out)
				return err
			}
			if err := run(plan.Run); err != nil {
				t.Fatalf("plan step failed: %v (it must always succeed and record the exit code)", err)
			}
			out, _ := os.ReadFile(filepath.Join(dir, "output"))
			if got := strings.TrimSpace(string(out)); got != "exit-code="+tc.code {
				t.Errorf("GITHUB_OUTPUT %q, want exit-code=%s", got, tc.code)
			}
			comment, _ := os.ReadFile(filepath.Join(dir, "comment.md"))
			for _, w := range []string{"<!-- ca-reconciler-plan -->", tc.summary, "~ repo python: +curl"} {
				if !strings.Contains(string(comment), w) {
					t.Errorf("comment lacks %q:\n%s", w, comment)
				}
			}
			err := run(gate.Run, "CODE="+tc.code)
			if (err != nil) != tc.gateFail {
				t.Errorf("gate step error %v, want failure %v", err, tc.gateFail)
			}
		})
	}
}
