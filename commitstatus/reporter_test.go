package commitstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// request is what a provider server received.
type request struct {
	Method  string
	URI     string
	Headers map[string]string
	Body    map[string]string
}

// providerServer is a local HTTP server standing in for GitHub's or
// GitLab's API: it records every request and answers with the next scripted
// status (201 when the script is used up).
type providerServer struct {
	t      *testing.T
	mu     sync.Mutex
	got    []request
	script []int
	reply  string
	seen   chan struct{}
}

func newProviderServer(t *testing.T, script ...int) (*providerServer, *httptest.Server) {
	p := &providerServer{t: t, script: script, seen: make(chan struct{}, 100)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *providerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]string
	if err := json.Unmarshal(raw, &body); err != nil {
		p.t.Errorf("body is not a JSON object of strings: %v: %s", err, raw)
	}
	hdr := map[string]string{}
	for _, k := range []string{"Authorization", "Accept", "X-Github-Api-Version", "Content-Type", "Private-Token"} {
		if v := r.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	p.mu.Lock()
	p.got = append(p.got, request{Method: r.Method, URI: r.RequestURI, Headers: hdr, Body: body})
	code := http.StatusCreated
	if len(p.script) > 0 {
		code, p.script = p.script[0], p.script[1:]
	}
	reply := p.reply
	p.mu.Unlock()
	w.WriteHeader(code)
	_, _ = io.WriteString(w, reply)
	p.seen <- struct{}{}
}

func (p *providerServer) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.got...)
}

// results collects what Observe is told and lets a test wait for the
// results of tries (not duplicates or drops, which Report itself counts).
type results struct{ *testenv.Deliveries }

func newResults() *results {
	return &results{testenv.NewDeliveries(ResultSent, ResultRetry, ResultFailed)}
}

func (r *results) observe(s string) { r.Add(s, s) }

// newTokenFile writes token to a new file and returns its path.
func newTokenFile(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, token)
	return path
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start makes a Reporter against srv and runs it until the test ends.
func start(t *testing.T, cfg Config) *Reporter {
	t.Helper()
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = time.Millisecond
		cfg.RetryMax = 2 * time.Millisecond
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RunUntilEnd(t, func(ctx context.Context) { _ = r.Run(ctx) })
	return r
}

// startAgainst starts a Reporter of cfg against a new provider server that
// answers with script: cfg.URL is a path on that server, the token is read
// from a new file holding token, and what the Reporter observes goes to
// res.
func startAgainst(t *testing.T, token string, cfg Config, script ...int) (p *providerServer, tokenFile string, res *results, r *Reporter) {
	t.Helper()
	p, srv := newProviderServer(t, script...)
	cfg.URL = srv.URL + cfg.URL
	cfg.TokenFile = newTokenFile(t, token)
	res = newResults()
	cfg.Observe = res.observe
	return p, cfg.TokenFile, res, start(t, cfg)
}

func TestReporterGitHub(t *testing.T) {
	p, tokenFile, res, r := startAgainst(t, "ghp_first", Config{
		Provider: GitHub, URL: "/api/v3/", Repo: "acme/images-config",
		Context: "ca-reconciler/acme.com", TargetURL: "https://cd.example.com/",
	})
	r.Report(sha, Status{StatePending, "1 repo building"})
	res.Wait(t, 1)
	// The token file is re-read: a rotated token applies to the next report.
	writeToken(t, tokenFile, "ghp_second")
	r.Report(sha, Status{StateSuccess, "1 repo written, 1 build succeeded"})
	res.Wait(t, 1)
	hdr := func(tok string) map[string]string {
		return map[string]string{
			"Authorization": "Bearer " + tok, "Accept": "application/vnd.github+json",
			"X-Github-Api-Version": "2022-11-28", "Content-Type": "application/json",
		}
	}
	want := []request{
		{Method: "POST", URI: "/api/v3/repos/acme/images-config/statuses/" + sha, Headers: hdr("ghp_first"),
			Body: map[string]string{"state": "pending", "description": "1 repo building", "context": "ca-reconciler/acme.com", "target_url": "https://cd.example.com/"}},
		{Method: "POST", URI: "/api/v3/repos/acme/images-config/statuses/" + sha, Headers: hdr("ghp_second"),
			Body: map[string]string{"state": "success", "description": "1 repo written, 1 build succeeded", "context": "ca-reconciler/acme.com", "target_url": "https://cd.example.com/"}},
	}
	if diff := cmp.Diff(want, p.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestReporterGitLab(t *testing.T) {
	p, tokenFile, res, r := startAgainst(t, "glpat-abc", Config{
		Provider: GitLab, URL: "/api/v4", Repo: "acme/platform/images-config",
		Context: "ca-reconciler/acme.com",
	})
	r.Report(sha, Status{StatePending, "1 repo building"})
	r.Report(sha, Status{StateFailure, "failed: python (build failed)"})
	res.Wait(t, 2)
	hdr := map[string]string{"Private-Token": "glpat-abc", "Content-Type": "application/json"}
	uri := "/api/v4/projects/acme%2Fplatform%2Fimages-config/statuses/" + sha
	want := []request{
		{Method: "POST", URI: uri, Headers: hdr, Body: map[string]string{"state": "running", "description": "1 repo building", "name": "ca-reconciler/acme.com"}},
		{Method: "POST", URI: uri, Headers: hdr, Body: map[string]string{"state": "failed", "description": "failed: python (build failed)", "name": "ca-reconciler/acme.com"}},
	}
	if diff := cmp.Diff(want, p.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// A project id works as well as a path.
	p2, srv2 := newProviderServer(t)
	res2 := newResults()
	r2 := start(t, Config{Provider: GitLab, URL: srv2.URL, Repo: "4242", TokenFile: tokenFile, Context: "c", Observe: res2.observe})
	r2.Report(sha, Status{StateSuccess, "ok"})
	res2.Wait(t, 1)
	if got := p2.requests()[0].URI; got != "/projects/4242/statuses/"+sha {
		t.Errorf("URI %q", got)
	}
}

// TestReporterRetries: transient answers are retried until one succeeds;
// a permanent one is not retried, and the same state may then be reported
// again later.
func TestReporterRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []int
		headers  map[string]string
		want     []string
		requests int
	}{
		{"5xx then ok", []int{502, 503, 500}, nil, []string{ResultRetry, ResultRetry, ResultRetry, ResultSent}, 4},
		{"429 then ok", []int{429}, nil, []string{ResultRetry, ResultSent}, 2},
		{"permanent 422", []int{422}, nil, []string{ResultFailed}, 1},
		{"permanent 404", []int{404}, nil, []string{ResultFailed}, 1},
		{"out of tries", []int{500, 500, 500, 500}, nil, []string{ResultRetry, ResultRetry, ResultRetry, ResultFailed}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, res, r := startAgainst(t, "tok", Config{Provider: GitHub, Repo: "a/b", Context: "c", Retries: 3}, tc.script...)
			r.Report(sha, Status{StatePending, "x"})
			res.Wait(t, len(tc.want))
			if diff := cmp.Diff(tc.want, res.All()); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := len(p.requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if tc.want[len(tc.want)-1] == ResultFailed {
				// Given up: the next report of the same state is sent.
				r.Report(sha, Status{StatePending, "x"})
				res.Wait(t, 1)
				if n := len(p.requests()); n != tc.requests+1 {
					t.Errorf("after giving up, a new report made %d requests in all, want %d", n, tc.requests+1)
				}
			}
		})
	}
}

// TestReporterDeduplicates: one POST per state per revision, whatever the
// description; a new state or another revision is sent.
func TestReporterDeduplicates(t *testing.T) {
	p, _, res, r := startAgainst(t, "tok", Config{Provider: GitHub, Repo: "a/b", Context: "c"})
	r.Report(sha, Status{StatePending, "2 repos building"})
	r.Report(sha, Status{StatePending, "1 repo building"})
	r.Report(sha, Status{StateSuccess, "done"})
	r.Report(sha, Status{StateSuccess, "done"})
	r.Report("fedcba9876543210fedcba9876543210fedcba98", Status{StateSuccess, "done"})
	res.Wait(t, 3)
	var got []string
	for _, q := range p.requests() {
		got = append(got, q.URI[len("/repos/a/b/statuses/"):][:6]+" "+q.Body["state"])
	}
	if diff := cmp.Diff([]string{"012345 pending", "012345 success", "fedcba success"}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	count := map[string]int{}
	for _, s := range res.All() {
		count[s]++
	}
	if diff := cmp.Diff(map[string]int{ResultSent: 3, ResultDuplicate: 2}, count); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestReportNeverBlocks: with nothing sending, Report returns at once and
// the queue stays bounded, dropping the oldest.
func TestReportNeverBlocks(t *testing.T) {
	tokenFile := newTokenFile(t, "tok")
	res := newResults()
	r, err := New(Config{Provider: GitHub, URL: "http://127.0.0.1:1", Repo: "a/b", TokenFile: tokenFile, Context: "c", QueueSize: 3, Observe: res.observe})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		r.Report(fmt.Sprintf("%040d", i), Status{StatePending, "x"})
	}
	if n := len(r.queue); n != 3 {
		t.Errorf("queue holds %d, want 3", n)
	}
	if r.queue[0].revision != fmt.Sprintf("%040d", 47) {
		t.Errorf("oldest queued is %s, want the 48th report", r.queue[0].revision)
	}
	dropped := 0
	for _, s := range res.All() {
		if s == ResultDropped {
			dropped++
		}
	}
	if dropped != 47 {
		t.Errorf("%d dropped, want 47", dropped)
	}
}

// TestReporterKeepsTheTokenSecret: the token appears in no log line or
// field and in no error, even when the provider echoes it back (a token
// shorter than redact.MinSecretLen included, and one that straddles the
// cut of the answer's text); results (the metric) are fixed words.
func TestReporterKeepsTheTokenSecret(t *testing.T) {
	const long = "ghp_SECRETvalue0123456789"
	for _, tc := range []struct {
		name, token, reply string
		placeholder        bool // the placeholder is within the text kept
	}{
		{"echoed", long, `{"message":"Bad credentials: ` + long + `"}`, true},
		{"short token echoed", "abc123", `{"message":"Bad credentials: abc123"}`, true},
		// The token starts 5 bytes before the 512th byte of the answer.
		{"echoed across the cut", long, `{"message":"` + strings.Repeat("x", 495) + long + `"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) { checkTokenSecret(t, tc.token, tc.reply, tc.placeholder) })
	}
}

func checkTokenSecret(t *testing.T, token, reply string, placeholder bool) {
	p, srv := newProviderServer(t, 401, 500)
	p.reply = reply
	tokenFile := newTokenFile(t, token)
	core, logs := observer.New(zapcore.DebugLevel)
	res := newResults()
	r := start(t, Config{Provider: GitHub, URL: srv.URL, Repo: "a/b", TokenFile: tokenFile, Context: "c", Observe: res.observe, Logger: zap.New(core)})
	r.Report(sha, Status{StatePending, "x"})
	res.Wait(t, 1)
	r.Report(sha, Status{StateSuccess, "y"})
	res.Wait(t, 2)
	// An unreadable token file is an error that names the file only.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	r.Report(sha, Status{StateFailure, "z"})
	res.Wait(t, 1)
	var all strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Message, e.ContextMap())
	}
	if !strings.Contains(all.String(), "401 Unauthorized") || (placeholder && !strings.Contains(all.String(), "REDACTED")) {
		t.Errorf("the logs do not show the refused report:\n%s", all.String())
	}
	if strings.Contains(all.String(), token) || strings.Contains(all.String(), token[:5]) {
		t.Errorf("the token, or its start, appears in the logs:\n%s", all.String())
	}
	for _, s := range res.All() {
		if strings.Contains(s, token) {
			t.Errorf("the token appears in a result: %s", s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Provider: "svn"}, `unknown commit status provider "svn" (want github or gitlab)`},
		{Config{Provider: GitHub}, "commit status: no repository"},
		{Config{Provider: GitHub, Repo: "a/b"}, "commit status: no token file"},
		{Config{Provider: GitHub, Repo: "a/b", TokenFile: "t"}, "commit status: no context"},
	} {
		if _, err := New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestDrain: what is queued is sent before Drain returns, without Run.
func TestDrain(t *testing.T) {
	p, srv := newProviderServer(t, 502)
	tokenFile := newTokenFile(t, "tok")
	r, err := New(Config{Provider: GitHub, URL: srv.URL, Repo: "a/b", TokenFile: tokenFile, Context: "c", RetryInitial: time.Millisecond, RetryMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Report(sha, Status{StatePending, "1 repo building"})
	r.Report(sha, Status{StateFailure, "failed: a (invalid file)"})
	r.Drain(t.Context())
	var got []string
	for _, q := range p.requests() {
		got = append(got, q.Body["state"])
	}
	// pending met a 502 and, failure being queued after it, was not
	// retried: a superseded state is not worth sending.
	if diff := cmp.Diff([]string{"pending", "failure"}, got); diff != "" {
		t.Errorf("states posted (-want +got):\n%s", diff)
	}
}
