package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/obscheck"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// promServer is a real Prometheus (Debian's package) started for one test.
type promServer struct {
	t    *testing.T
	base string
	logs *testenv.SyncBuffer
}

// startPrometheus runs prometheus on loopback, scraping target every second
// and evaluating the shipped alert rules every second. It is killed when the
// test ends.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: ca-reconciler
    static_configs:
      - targets: [%q]
`, obscheck.Path(t, obscheck.AlertsFile), target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port comes from freeAddr, which another socket can take before
	// Prometheus binds it; a start that fails to bind is retried on a new
	// port.
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		p := &promServer{t: t, base: "http://" + addr, logs: &testenv.SyncBuffer{}}
		cmd := exec.Command(bin,
			"--config.file="+cfgPath,
			"--web.listen-address="+addr,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = p.logs, p.logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting prometheus: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		p.await("Prometheus ready", func() (bool, string) {
			select {
			case <-exited:
				return true, "exited"
			default:
			}
			body, code := get(t, p.base+"/-/ready")
			return code == http.StatusOK, body
		})
		select {
		case <-exited:
			if attempt < 5 && strings.Contains(p.logs.String(), "address already in use") {
				continue
			}
			t.Fatalf("prometheus exited at start:\n%s", p.logs.String())
		default:
			return p
		}
	}
}

// await polls cond every 100ms for at most 40s.
func (p *promServer) await(what string, cond func() (bool, string)) {
	p.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("timed out waiting for %s; last: %s\nprometheus logs:\n%s", what, last, p.logs.String())
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	v, _ := s.Value[1].(string)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return f
}

type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

// api calls Prometheus's HTTP API and returns the data of a successful
// answer, or the error.
func (p *promServer) api(path string, params url.Values) (json.RawMessage, error) {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// query runs an instant query; a result that is not a vector (a scalar) is
// returned as no samples.
func (p *promServer) query(expr string) ([]sample, error) {
	data, err := p.api("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, nil
	}
	var out []sample
	err = json.Unmarshal(d.Result, &out)
	return out, err
}

// queryRange runs a range query over the last minute, as a Grafana panel
// does.
func (p *promServer) queryRange(expr string) error {
	end := time.Now()
	_, err := p.api("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(end.Add(-time.Minute).Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {"5"},
	})
	return err
}

// valueOf returns the value of the series of expr whose labels include
// want, and whether there is one.
func (p *promServer) valueOf(expr string, want map[string]string) (float64, bool, string) {
	res, err := p.query(expr)
	if err != nil {
		return 0, false, err.Error()
	}
next:
	for _, s := range res {
		for k, v := range want {
			if s.Metric[k] != v {
				continue next
			}
		}
		return s.value(), true, ""
	}
	return 0, false, fmt.Sprintf("%s: no series with %v in %v", expr, want, res)
}

// TestPrometheusScrapesTheDaemon runs the daemon (the real run command,
// against the emulator and a Git repo) under a real Prometheus, causes
// drift, writes and a failed build, and checks through Prometheus's HTTP API
// that every dashboard query and alert expression runs, that the drift,
// write and build series show what happened, and that promtool accepts the
// daemon's /metrics.
func TestPrometheusScrapesTheDaemon(t *testing.T) {
	promBin := obscheck.Tool(t, "prometheus")
	promtool := obscheck.Tool(t, "promtool")
	dash, err := obscheck.LoadDashboard(obscheck.Path(t, obscheck.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := obscheck.LoadRules(obscheck.Path(t, obscheck.AlertsFile))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dash.Queries(obscheck.DefaultVars())
	if err != nil {
		t.Fatal(err)
	}

	f := newFixture(t)
	if err := f.emu.SetCatalog(f.orgID, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}
	f.repo("web", overlay.Overlay{Packages: []string{"curl"}})
	f.repo("api", overlay.Overlay{Packages: []string{"jq"}})
	f.repo("plain", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{
		"ca-images-iac/web.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/api.yaml": "contents:\n  packages: [jq]\n",
		// The org is not entitled to runtime repositories: every write of
		// plain is refused, so it stays drifted, and stalls.
		"ca-images-iac/plain.yaml": "contents:\n  packages: [curl]\n  runtime_repositories: [https://apk.example.com/os]\n",
	})

	d := f.startFollowingBuilds()
	addr := d.addr

	prom := startPrometheus(t, promBin, addr)
	web := map[string]string{"job": "ca-reconciler", "repo": "web"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	atLeast := func(what, expr string, labels map[string]string, min float64) {
		t.Helper()
		prom.await(what, func() (bool, string) {
			v, ok, detail := prom.valueOf(expr, labels)
			return ok && v >= min, fmt.Sprintf("%v %v %s", v, ok, detail)
		})
	}

	// A baseline: Prometheus has scraped the in-sync repos (zeros) a few
	// times before anything happens.
	atLeast("baseline scrapes", `count_over_time(ca_reconciler_repo_status{status="synced"}[1m])`, with(web, "status", "synced"), 3)
	if v, _, _ := prom.valueOf(`ca_reconciler_repo_status{status="synced"}`, web); v != 1 {
		t.Fatalf("web not synced at start: %v\n%s", v, d.stderr.String())
	}

	// Drift from Git that builds badly (a package missing from the org's
	// catalog), and drift from a Console edit that builds well.
	f.commit(map[string]string{"ca-images-iac/web.yaml": "contents:\n  packages: [curl, nosuch]\n"})
	if err := f.emu.ConsoleEdit(f.repos["api"], overlaypb.ToProto(overlay.Overlay{Packages: []string{"jq", "wget"}})); err != nil {
		t.Fatal(err)
	}

	// The raw series show what happened.
	atLeast("web drift counted", `ca_reconciler_drift_detected_total`, web, 1)
	// Writes and builds are counted by result (per repo: /status, below).
	job := map[string]string{"job": "ca-reconciler"}
	atLeast("web and api written", `ca_reconciler_writes_total`, with(job, "result", "success"), 2)
	atLeast("web build failed", `ca_reconciler_builds_total`, with(job, "result", "failure"), 1)
	atLeast("web last build failed", `ca_reconciler_repo_build_failed`, web, 1)
	atLeast("api drift counted", `ca_reconciler_drift_detected_total`, with(web, "repo", "api"), 1)
	atLeast("api build succeeded", `ca_reconciler_builds_total`, with(job, "result", "success"), 1)
	atLeast("plain stays drifted", `max without (status) (ca_reconciler_repo_status{status=~"drifted|failed|stalled"})`, with(web, "repo", "plain"), 1)
	atLeast("plain write refused", `ca_reconciler_writes_total`, with(job, "result", "error"), 1)
	atLeast("plain stalled after refused writes", `ca_reconciler_repo_status{status="stalled"}`, with(web, "repo", "plain"), 1)

	// Every dashboard query runs, as an instant and as a range query.
	byPanel := map[string][]string{}
	for _, q := range queries {
		byPanel[q.Panel] = append(byPanel[q.Panel], q.Expr)
		if _, err := prom.query(q.Expr); err != nil {
			t.Errorf("panel %q query %s: %v", q.Panel, q.RefID, err)
		}
		if err := prom.queryRange(q.Expr); err != nil {
			t.Errorf("panel %q query %s (range): %v", q.Panel, q.RefID, err)
		}
	}
	// The panels for drift, writes and builds show what the test did.
	for _, c := range []struct {
		panel  string
		labels map[string]string
		min    float64
	}{
		{"Drift events", map[string]string{"repo": "web"}, 0.5},
		{"Drift events", map[string]string{"repo": "api"}, 0.5},
		{"Writes by result", map[string]string{"result": "success"}, 0.5},
		{"Build results", map[string]string{"result": "failure"}, 0.5},
		{"Build results", map[string]string{"result": "success"}, 0.5},
		{"Last build failed", map[string]string{"repo": "web"}, 1},
		{"Drifted repos", map[string]string{}, 1},
		{"Repo status", map[string]string{"repo": "plain", "status": "stalled"}, 1},
		{"Repo status", map[string]string{"repo": "web", "status": "synced"}, 1},
	} {
		exprs := byPanel[c.panel]
		if len(exprs) == 0 {
			t.Errorf("no panel %q", c.panel)
			continue
		}
		v, ok, detail := prom.valueOf(exprs[0], c.labels)
		if !ok || v < c.min {
			t.Errorf("panel %q: %v = %v (found %v), want at least %v; %s", c.panel, c.labels, v, ok, c.min, detail)
		}
	}

	// Every alert expression runs, and Prometheus evaluates every rule
	// without error.
	n := 0
	for _, r := range rules.Rules() {
		n++
		if _, err := prom.query(r.Expr); err != nil {
			t.Errorf("alert %s: %v", r.Alert, err)
		}
	}
	prom.await("every rule evaluated", func() (bool, string) {
		data, err := prom.api("/api/v1/rules", nil)
		if err != nil {
			return false, err.Error()
		}
		var d struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return false, err.Error()
		}
		seen := 0
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				if r.Health == "err" {
					t.Fatalf("rule %s: %s", r.Name, r.LastError)
				}
				if r.Health == "ok" {
					seen++
				}
			}
		}
		return seen == n, fmt.Sprintf("%d of %d rules evaluated ok", seen, n)
	})

	// promtool accepts the daemon's exposition.
	body, code := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// The HTML page and /status say the same.
	page, _ := get(t, "http://"+addr+"/")
	for _, want := range []string{`id="repo-web"`, `id="repo-plain"`, ">failure<", ">stalled<"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	var st struct {
		Repos []struct {
			Repo      string `json:"repo"`
			Status    string `json:"status"`
			LastBuild *struct {
				Result string `json:"result"`
			} `json:"last_build"`
		} `json:"repos"`
	}
	statusJSON, _ := get(t, "http://"+addr+"/status")
	if err := json.NewDecoder(bytes.NewReader([]byte(statusJSON))).Decode(&st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Repos {
		if r.Repo == "web" && (r.LastBuild == nil || r.LastBuild.Result != "failure") {
			t.Errorf("/status web last build %+v, want failure", r.LastBuild)
		}
		if r.Repo == "api" && (r.LastBuild == nil || r.LastBuild.Result != "success") {
			t.Errorf("/status api last build %+v, want success", r.LastBuild)
		}
	}
	d.stop()
	if !strings.Contains(d.stderr.String(), `nosuch (no such package):`) {
		t.Errorf("the failed build's log tail was not logged:\n%s", d.stderr.String())
	}
}
