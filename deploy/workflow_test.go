package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
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

// planMarker is the first line of `plan -o markdown` (reconciler.MarkdownMarker).
const planMarker = "<!-- ca-reconciler-plan -->"

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

// step returns the plan job's step whose id or name (prefix) is given.
func (w workflow) step(t *testing.T, idOrName string) workflowStep {
	t.Helper()
	for _, s := range w.Jobs["plan"].Steps {
		if s.ID == idOrName || (s.Name != "" && strings.HasPrefix(s.Name, idOrName)) {
			return s
		}
	}
	t.Fatalf("%s: no step %q", workflowFile, idOrName)
	return workflowStep{}
}

// TestWorkflowActionlint lints the example with actionlint, the linter
// GitHub's own docs point to, used as a library: it checks the workflow
// syntax, expressions and their types, contexts available where they are
// used, runner labels, the inputs of known actions, and (when shellcheck is
// on PATH) every run script.
func TestWorkflowActionlint(t *testing.T) {
	shellcheck, _ := exec.LookPath("shellcheck")
	if shellcheck == "" {
		t.Log("shellcheck not on PATH: run scripts are checked with bash -n only (TestWorkflow)")
	}
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Shellcheck: shellcheck, Oneline: true})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.Lint(workflowFile, readFile(t, workflowFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s:%d:%d: %s [%s]", workflowFile, e.Line, e.Column, e.Message, e.Kind)
	}
}

// TestActionlintFindsProblems makes sure the linter really runs: a workflow
// with an unknown context, a bad runner label and a script injection is
// rejected.
func TestActionlintFindsProblems(t *testing.T) {
	bad := `on: pull_request
jobs:
  x:
    runs-on: ubuntu-latst
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo "${{ nosuch.value }}"
`
	linter, err := actionlint.NewLinter(&bytes.Buffer{}, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.Lint("bad.yaml", []byte(bad), nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range errs {
		kinds[e.Kind] = true
	}
	for _, k := range []string{"runner-label", "expression"} {
		if !kinds[k] {
			t.Errorf("actionlint found no %q error in a bad workflow; found %v", k, kinds)
		}
	}
}

// pinnedUses is a third-party action pinned by full commit SHA, with the
// release it is in a comment (so Dependabot and Renovate can update both).
var pinnedUses = regexp.MustCompile(`^\s*-?\s*uses: [A-Za-z0-9-]+/[A-Za-z0-9._/-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)

func TestWorkflow(t *testing.T) {
	w := readWorkflow(t)
	if _, ok := w.On["pull_request"]; !ok || len(w.On) != 1 {
		t.Errorf("on: %v, want only pull_request (never pull_request_target: it runs fork code with secrets)", w.On)
	}
	if len(w.Permissions) != 0 {
		t.Errorf("top-level permissions %v, want {} (each job asks for its own)", w.Permissions)
	}
	job, ok := w.Jobs["plan"]
	if !ok {
		t.Fatal("no job plan")
	}
	want := map[string]string{"contents": "read", "id-token": "write", "pull-requests": "write"}
	if diff := cmp.Diff(want, job.Permissions); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	uses := 0
	for i, line := range strings.Split(string(readFile(t, workflowFile)), "\n") {
		if strings.Contains(line, "uses:") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			uses++
			if !pinnedUses.MatchString(line) {
				t.Errorf("%s:%d: %q: pin actions by full commit SHA with the release in a comment (`uses: owner/repo@<40 hex> # vX.Y.Z`)", workflowFile, i+1, strings.TrimSpace(line))
			}
		}
	}
	if uses == 0 {
		t.Error("no uses: lines found")
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
		"ca-reconciler validate -o github ",
		"ca-reconciler plan -o markdown",
		"--identity ",
		"--oidc-token-file ",
		"audience=issuer.enforce.dev",
		"ACTIONS_ID_TOKEN_REQUEST_URL",
		"GITHUB_STEP_SUMMARY",
		planMarker,
	} {
		if !strings.Contains(all, w) {
			t.Errorf("the steps never run %q", w)
		}
	}
	if s := w.step(t, "Comment the plan"); s.Env["GITHUB_TOKEN"] != "${{ github.token }}" {
		t.Errorf("comment step env GITHUB_TOKEN = %q, want the job's own token", s.Env["GITHUB_TOKEN"])
	}
}

// githubAPI is a local HTTP server speaking the part of GitHub's REST API
// the comment step uses, as GitHub documents it: list issue comments
// (paginated with per_page and page), create one, update one. It checks
// every request's method, path, headers and JSON body.
type githubAPI struct {
	t     *testing.T
	token string
	repo  string
	pr    int

	mu       sync.Mutex
	comments []apiComment
	nextID   int
	creates  int
	updates  int
	lists    int
}

type apiComment struct {
	ID   int     `json:"id"`
	User apiUser `json:"user"`
	Body string  `json:"body"`
}

type apiUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

func (g *githubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(code int, format string, args ...any) {
		g.t.Errorf("GitHub API: %s %s: %s", r.Method, r.URL, fmt.Sprintf(format, args...))
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+g.token {
		fail(http.StatusUnauthorized, "Authorization %q", got)
		return
	}
	if got := r.Header.Get("Accept"); got != "application/vnd.github+json" {
		fail(http.StatusBadRequest, "Accept %q", got)
		return
	}
	if got := r.Header.Get("X-GitHub-Api-Version"); got != "2022-11-28" {
		fail(http.StatusBadRequest, "X-GitHub-Api-Version %q", got)
		return
	}
	list := fmt.Sprintf("/repos/%s/issues/%d/comments", g.repo, g.pr)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == list:
		g.lists++
		perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if perPage < 1 || perPage > 100 || page < 1 {
			fail(http.StatusBadRequest, "per_page %q page %q", r.URL.Query().Get("per_page"), r.URL.Query().Get("page"))
			return
		}
		from := min((page-1)*perPage, len(g.comments))
		to := min(from+perPage, len(g.comments))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(g.comments[from:to])
	case r.Method == http.MethodPost && r.URL.Path == list:
		body, ok := g.body(w, r, fail)
		if !ok {
			return
		}
		g.creates++
		g.nextID++
		c := apiComment{ID: g.nextID, User: apiUser{Login: "github-actions[bot]", Type: "Bot"}, Body: body}
		g.comments = append(g.comments, c)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(c)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/repos/"+g.repo+"/issues/comments/"):
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/repos/"+g.repo+"/issues/comments/"))
		if err != nil {
			fail(http.StatusNotFound, "bad comment id")
			return
		}
		body, ok := g.body(w, r, fail)
		if !ok {
			return
		}
		for i := range g.comments {
			if g.comments[i].ID == id {
				if g.comments[i].User.Type != "Bot" {
					fail(http.StatusForbidden, "editing someone else's comment %d", id)
					return
				}
				g.updates++
				g.comments[i].Body = body
				_ = json.NewEncoder(w).Encode(g.comments[i])
				return
			}
		}
		fail(http.StatusNotFound, "no comment %d", id)
	default:
		fail(http.StatusNotFound, "unexpected request")
	}
}

// body reads a create or update request: JSON with exactly one field, body.
func (g *githubAPI) body(w http.ResponseWriter, r *http.Request, fail func(int, string, ...any)) (string, bool) {
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		fail(http.StatusUnsupportedMediaType, "Content-Type %q", got)
		return "", false
	}
	var req map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		fail(http.StatusBadRequest, "body: %v", err)
		return "", false
	}
	body, ok := req["body"].(string)
	if !ok || len(req) != 1 {
		fail(http.StatusUnprocessableEntity, "want {\"body\": string}, got %v", req)
		return "", false
	}
	return body, true
}

// botComments returns the bodies of the comments carrying the marker that a
// bot wrote.
func (g *githubAPI) botComments() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.comments {
		if c.User.Type == "Bot" && strings.HasPrefix(c.Body, planMarker) {
			out = append(out, c.Body)
		}
	}
	return out
}

// stepRunner runs the workflow's scripts as GitHub does (`bash --noprofile
// --norc -eo pipefail`), with a fake ca-reconciler on PATH, the runner's
// files (RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) in a temporary
// folder, and GITHUB_API_URL pointing at a local server.
type stepRunner struct {
	t   *testing.T
	w   workflow
	dir string
	env []string
}

// fakeReconciler describes what the fake ca-reconciler prints and returns.
type fakeReconciler struct {
	validateOut  string
	validateCode int
	planOut      string
	planErr      string
	planCode     int
}

func newStepRunner(t *testing.T, w workflow, api *githubAPI, apiURL string, fake fakeReconciler) *stepRunner {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"validate.out": fake.validateOut, "plan.out": fake.planOut, "plan.stderr": fake.planErr,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
# A fake ca-reconciler: prints what the test gave it, exits with its code.
case "$1" in
validate) cat %[1]q/validate.out; exit %[2]d ;;
plan) cat %[1]q/plan.out; cat %[1]q/plan.stderr >&2; exit %[3]d ;;
esac
echo "unexpected: $*" >&2
exit 99
`, dir, fake.validateCode, fake.planCode)
	if err := os.WriteFile(filepath.Join(bin, "ca-reconciler"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PATH="+bin+":"+os.Getenv("PATH"),
		"RUNNER_TEMP="+filepath.Join(dir, "runner-temp"),
		"GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary.md"),
		"GITHUB_API_URL="+apiURL,
		"GITHUB_REPOSITORY="+api.repo,
	)
	if err := os.Mkdir(filepath.Join(dir, "runner-temp"), 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range w.Env {
		env = append(env, k+"="+v)
	}
	return &stepRunner{t: t, w: w, dir: dir, env: env}
}

// run runs one step with its env (expressions replaced by values) and
// returns its combined output, its GITHUB_OUTPUT lines and its error.
func (r *stepRunner) run(name string, values map[string]string) (string, map[string]string, error) {
	r.t.Helper()
	s := r.w.step(r.t, name)
	output := filepath.Join(r.dir, "output-"+strings.ReplaceAll(name, " ", "-"))
	env := append(append([]string{}, r.env...), "GITHUB_OUTPUT="+output)
	for k, v := range s.Env {
		val, ok := values[v]
		if !ok {
			r.t.Fatalf("step %q: env %s = %s: the test gives it no value", name, k, v)
		}
		env = append(env, k+"="+val)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
	cmd.Dir = r.dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	outputs := map[string]string{}
	if b, rerr := os.ReadFile(output); rerr == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				outputs[k] = v
			}
		}
	}
	return string(out), outputs, err
}

func (r *stepRunner) read(name string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// TestWorkflowSteps runs the workflow's scripts, in order, for each way a
// pull request can go: the validate exit code is recorded and its
// annotations printed; the plan (or, when there is none, the error) goes to
// the job summary and to the comment; the comment is created once and
// edited on every later push (found past the first page of comments, and
// never someone else's); the gate fails on problems, not on drift.
func TestWorkflowSteps(t *testing.T) {
	w := readWorkflow(t)
	const token = "ghs_TOKENnotforlogs1234567890"
	planMD := func(verdict string) string {
		return planMarker + "\n### ca-reconciler plan\n\n<p><b>" + verdict + "</b></p>\n"
	}
	for _, tc := range []struct {
		name        string
		fake        fakeReconciler
		fork        bool
		wantComment []string // in the comment and the summary
		gateFails   bool
	}{
		{name: "in sync", fake: fakeReconciler{planOut: planMD("In sync: nothing to write.")},
			wantComment: []string{"In sync: nothing to write."}},
		{name: "drift", fake: fakeReconciler{planOut: planMD("2 repos to write."), planCode: 2},
			wantComment: []string{"2 repos to write."}},
		{name: "invalid file",
			fake: fakeReconciler{
				validateOut:  "::error file=ca-images-iac/a.yaml,line=2,col=3::environment.CHAINGUARD_X: reserved\n",
				validateCode: 1, planOut: planMD("1 file cannot be applied."), planCode: 1,
			},
			wantComment: []string{"1 file cannot be applied."}, gateFails: true},
		{name: "no plan",
			fake:        fakeReconciler{planErr: "Error: listing repos of `acme`: Unavailable\n", planCode: 1},
			wantComment: []string{"The plan could not be made (exit 1)", "```text\nError: listing repos of acme: Unavailable\n\n```"},
			gateFails:   true},
		{name: "fork", fork: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &githubAPI{t: t, token: token, repo: "acme/images-config", pr: 42}
			// 150 comments by people first, one of them quoting the
			// marker: the plan comment lands on the second page.
			for i := range 150 {
				api.nextID++
				body := fmt.Sprintf("looks good %d", i)
				if i == 7 {
					body = planMarker + "\nsomeone pasted an old plan"
				}
				api.comments = append(api.comments, apiComment{ID: api.nextID, User: apiUser{Login: "alice", Type: "User"}, Body: body})
			}
			srv := httptest.NewServer(api)
			defer srv.Close()
			values := map[string]string{
				"${{ github.event.pull_request.head.sha }}": "0123456789abcdef0123456789abcdef01234567",
				"${{ github.token }}":                       token,
				"${{ github.event.pull_request.number }}":   "42",
				"${{ steps.validate.outputs.exit-code }}":   "",
				"${{ steps.plan.outputs.exit-code }}":       "",
			}
			r := newStepRunner(t, w, api, srv.URL, tc.fake)
			out, outputs, err := r.run("validate", values)
			if err != nil {
				t.Fatalf("validate step failed: %v\n%s (it must always succeed and record the exit code)", err, out)
			}
			if !strings.Contains(out, tc.fake.validateOut) {
				t.Errorf("validate step output lacks the annotations %q:\n%s", tc.fake.validateOut, out)
			}
			values["${{ steps.validate.outputs.exit-code }}"] = outputs["exit-code"]
			if got, want := outputs["exit-code"], strconv.Itoa(tc.fake.validateCode); got != want {
				t.Errorf("validate exit-code output %q, want %q", got, want)
			}
			var logs strings.Builder
			logs.WriteString(out)
			if tc.fork {
				out, _, err = r.run("Note that forks", values)
				if err != nil {
					t.Fatalf("fork note: %v\n%s", err, out)
				}
				if s := r.read("summary.md"); !strings.Contains(s, "pull requests from forks get no OIDC token") {
					t.Errorf("summary:\n%s", s)
				}
			} else {
				// Two pushes: the first creates the comment, the second
				// edits it.
				for push := 1; push <= 2; push++ {
					out, outputs, err = r.run("plan", values)
					logs.WriteString(out)
					if err != nil {
						t.Fatalf("plan step failed: %v\n%s (it must always succeed and record the exit code)", err, out)
					}
					if got, want := outputs["exit-code"], strconv.Itoa(tc.fake.planCode); got != want {
						t.Errorf("plan exit-code output %q, want %q", got, want)
					}
					values["${{ steps.plan.outputs.exit-code }}"] = outputs["exit-code"]
					comment := r.read("runner-temp/comment.md")
					if !strings.HasPrefix(comment, planMarker+"\n") {
						t.Errorf("comment does not start with the marker:\n%s", comment)
					}
					for _, want := range append(tc.wantComment, "<sub>ca-reconciler plan of commit 0123456789abcdef0123456789abcdef01234567</sub>") {
						if !strings.Contains(comment, want) {
							t.Errorf("comment lacks %q:\n%s", want, comment)
						}
					}
					if s := r.read("summary.md"); !strings.HasSuffix(s, comment) {
						t.Errorf("the job summary does not end with the comment:\n%s", s)
					}
					out, _, err = r.run("Comment the plan", values)
					logs.WriteString(out)
					if err != nil {
						t.Fatalf("comment step (push %d): %v\n%s", push, err, out)
					}
					if bots := api.botComments(); len(bots) != 1 || bots[0] != comment {
						t.Errorf("push %d: bot comments %q, want exactly the one comment %q", push, bots, comment)
					}
				}
				if api.creates != 1 || api.updates != 1 {
					t.Errorf("%d creates and %d updates, want 1 and 1", api.creates, api.updates)
				}
				if api.comments[7].Body != planMarker+"\nsomeone pasted an old plan" {
					t.Errorf("someone else's comment was changed: %q", api.comments[7].Body)
				}
				// 2 pages on the first push (nothing found); the second
				// push finds the comment on page 2.
				if api.lists != 4 {
					t.Errorf("%d list calls, want 4 (two pages on each push)", api.lists)
				}
			}
			out, _, err = r.run("Fail on problems", values)
			logs.WriteString(out)
			if (err != nil) != tc.gateFails {
				t.Errorf("gate step error %v, want failure %v\n%s", err, tc.gateFails, out)
			}
			if strings.Contains(logs.String(), token) {
				t.Errorf("the GitHub token appears in the step output:\n%s", logs.String())
			}
			if b, _ := os.ReadFile(filepath.Join(r.dir, "runner-temp", "github-api-headers")); len(b) > 0 {
				t.Errorf("the file holding the token was left behind")
			}
		})
	}
}

// TestWorkflowValidateStep runs the workflow's validate step with the real
// ca-reconciler: a bad file becomes a GitHub annotation on its line, and the
// step records exit 1 for the gate instead of failing.
func TestWorkflowValidateStep(t *testing.T) {
	bin := testbin.Build(t, "workflow-test")
	w := readWorkflow(t)
	api := &githubAPI{t: t, repo: "acme/images-config", pr: 1}
	r := newStepRunner(t, w, api, "http://127.0.0.1:1", fakeReconciler{})
	// The real binary replaces the fake one.
	if err := os.Remove(filepath.Join(r.dir, "bin", "ca-reconciler")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(r.dir, "bin", "ca-reconciler")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "ca-images-iac"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"ca-images-iac/good.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/bad.yaml":  "contents:\n  packages: [curl]\nenvironment:\n  CHAINGUARD_X: y\n",
	} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, outputs, err := r.run("validate", nil)
	if err != nil {
		t.Fatalf("validate step: %v\n%s", err, out)
	}
	if outputs["exit-code"] != "1" {
		t.Errorf("exit-code %q, want 1\n%s", outputs["exit-code"], out)
	}
	if !strings.Contains(out, "::error file=ca-images-iac/bad.yaml,line=4,col=3::") {
		t.Errorf("no annotation on the bad line:\n%s", out)
	}
	if strings.Contains(out, "good.yaml") {
		t.Errorf("the good file is annotated:\n%s", out)
	}
}
