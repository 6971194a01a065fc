package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// sink is a local HTTP server receiving notifications: it records each
// request's path, content type and JSON body, answering with the next
// scripted status (200 when used up).
type sink struct {
	t      *testing.T
	mu     sync.Mutex
	bodies []map[string]any
	paths  []string
	script []int
}

func newSink(t *testing.T, script ...int) (*sink, *httptest.Server) {
	s := &sink{t: t, script: script}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		s.t.Errorf("%s with Content-Type %q, want POST of application/json", r.Method, r.Header.Get("Content-Type"))
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		s.t.Errorf("body is not a JSON object: %v: %s", err, raw)
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.paths = append(s.paths, r.URL.Path)
	code := http.StatusOK
	if len(s.script) > 0 {
		code, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "ok")
}

func (s *sink) got() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

// fields lists the messages the sink got, each as the values of keys
// (formatted with %v) joined by spaces.
func (s *sink) fields(keys ...string) []string {
	var out []string
	for _, b := range s.got() {
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = fmt.Sprint(b[k])
		}
		out = append(out, strings.Join(vals, " "))
	}
	return out
}

// wantFields checks the messages the sink got, as fields of keys, against
// want.
func (s *sink) wantFields(t *testing.T, keys []string, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, s.fields(keys...)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// counter collects Observe calls ("target result") and lets a test wait
// for delivery results.
type counter struct{ *testenv.Deliveries }

func newCounter() *counter {
	return &counter{testenv.NewDeliveries(ResultSent, ResultRetry, ResultFailed)}
}

func (c *counter) observe(target, result string) { c.Add(target+" "+result, result) }

// count is how many of the results are result ("target result").
func (c *counter) count(result string) int {
	n := 0
	for _, r := range c.All() {
		if r == result {
			n++
		}
	}
	return n
}

// wantDuplicates checks that target 0 counted want duplicates.
func (c *counter) wantDuplicates(t *testing.T, want int) {
	t.Helper()
	if dups := c.count("0 " + ResultDuplicate); dups != want {
		t.Errorf("%d duplicates counted, want %d", dups, want)
	}
}

func start(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial, cfg.RetryMax = time.Millisecond, 2*time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	n := New(cfg)
	testenv.RunUntilEnd(t, func(ctx context.Context) { _ = n.Run(ctx) })
	return n
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Target
		err  string
	}{
		{"https://hooks.slack.com/services/T0/B0/XXXX", Target{"https://hooks.slack.com/services/T0/B0/XXXX", FormatSlack}, ""},
		{"https://HOOKS.SLACK.COM/services/T0/B0/XXXX", Target{"https://HOOKS.SLACK.COM/services/T0/B0/XXXX", FormatSlack}, ""},
		{"https://alerts.example.com/ca-reconciler", Target{"https://alerts.example.com/ca-reconciler", FormatJSON}, ""},
		{"https://hooks.slack.com.evil.example/x", Target{"https://hooks.slack.com.evil.example/x", FormatJSON}, ""},
		{"hooks.slack.com/services/T0/B0/SECRET", Target{}, "not an absolute http:// or https:// URL"},
		{"ftp://example.com/SECRET", Target{}, "not an absolute http:// or https:// URL"},
		{"https://exa mple.com/SECRET", Target{}, "not an absolute http:// or https:// URL"},
	} {
		got, err := ParseTarget(tc.url)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseTarget(%q) = %v, %q; want %v, %q", tc.url, got, gotErr, tc.want, tc.err)
		}
	}
}

func TestPayloads(t *testing.T) {
	hostile := Event{
		Kind: KindDriftCorrected, Org: "acme.com", Repo: "py<thon>&`x`", Revision: "0123456789abcdef0123456789abcdef01234567",
		Actor: "alice@example.com", Diff: []string{"+ package curl", "~ environment A: ```x``` -> <b>"}, URL: "https://cd.example.com/repos/py",
	}
	for _, tc := range []struct {
		name   string
		format Format
		event  Event
		want   string
	}{
		{"json drift", FormatJSON, hostile, `{
			"version": 1, "kind": "drift_corrected", "org": "acme.com", "repo": "py<thon>&` + "`x`" + `",
			"revision": "0123456789abcdef0123456789abcdef01234567",
			"summary": "Drift corrected in py<thon>&` + "`x`" + ` (acme.com): the change by alice@example.com was put back",
			"actor": "alice@example.com", "diff": ["+ package curl", "~ environment A: ` + "```x```" + ` -> <b>"],
			"url": "https://cd.example.com/repos/py", "time": "2026-12-02T10:00:00Z"}`},
		{"json build failed", FormatJSON, Event{Kind: KindBuildFailed, Org: "acme.com", Repo: "nginx", BuildID: "b-1", LogTail: []string{"ERROR: package \"nope\" not found"}}, `{
			"version": 1, "kind": "build_failed", "org": "acme.com", "repo": "nginx", "summary": "Build failed for nginx (acme.com)",
			"build_id": "b-1", "log_tail": ["ERROR: package \"nope\" not found"], "time": "2026-12-02T10:00:00Z"}`},
		{"json signature", FormatJSON, Event{Kind: KindSignatureRefused, Org: "acme.com", Revision: "fedcba9876543210fedcba9876543210fedcba98", Reason: "no valid signature"}, `{
			"version": 1, "kind": "signature_refused", "org": "acme.com", "revision": "fedcba9876543210fedcba9876543210fedcba98",
			"summary": "The head commit was refused by commit signature verification (acme.com); the last verified revision fedcba987654 is kept",
			"reason": "no valid signature", "time": "2026-12-02T10:00:00Z"}`},
		{"slack drift", FormatSlack, hostile, `{
			"text": "Drift corrected in py&lt;thon&gt;&amp;` + "`x`" + ` (acme.com): the change by alice@example.com was put back",
			"blocks": [
				{"type": "section", "text": {"type": "mrkdwn", "text": "*Drift corrected in py&lt;thon&gt;&amp;` + "`x`" + ` (acme.com): the change by alice@example.com was put back*"}},
				{"type": "section", "text": {"type": "mrkdwn", "text": "` + "```" + `+ package curl\n~ environment A: '''x''' -&gt; &lt;b&gt;` + "```" + `"}},
				{"type": "context", "elements": [{"type": "mrkdwn", "text": "revision ` + "`0123456789ab`" + ` · <https://cd.example.com/repos/py|ca-reconciler>"}]}
			]}`},
		{"slack stalled", FormatSlack, Event{Kind: KindStalled, Org: "acme.com", Repo: "jdk", Reason: "still drifted after 3 writes"}, `{
			"text": "jdk stalled (acme.com): its writes do not converge; it is not written again until its file changes",
			"blocks": [
				{"type": "section", "text": {"type": "mrkdwn", "text": "*jdk stalled (acme.com): its writes do not converge; it is not written again until its file changes*"}},
				{"type": "section", "text": {"type": "mrkdwn", "text": "still drifted after 3 writes"}}
			]}`},
		{"slack refused", FormatSlack, Event{Kind: KindRefused, Org: "acme.com", Repo: "old", Reason: "prune limit 1 reached"}, `{
			"text": "Refused for old (acme.com): prune limit 1 reached",
			"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Refused for old (acme.com): prune limit 1 reached*"}}]}`},
		{"json create refused", FormatJSON, Event{Kind: KindRefused, Org: "acme.com", Repo: "custom-node", Action: "create",
			Reason: `ca-images-iac/.ca-reconciler.yaml:3:13: repos.custom-node.source: the organization cannot create repo "custom-node" from source "nosuch": source repository "nosuch" not found`,
			URL:    "https://cd.example.com/repos/custom-node"}, `{
			"version": 1, "kind": "refused", "org": "acme.com", "repo": "custom-node", "action": "create",
			"summary": "Create of custom-node refused (acme.com): ca-images-iac/.ca-reconciler.yaml:3:13: repos.custom-node.source: the organization cannot create repo \"custom-node\" from source \"nosuch\": source repository \"nosuch\" not found",
			"reason": "ca-images-iac/.ca-reconciler.yaml:3:13: repos.custom-node.source: the organization cannot create repo \"custom-node\" from source \"nosuch\": source repository \"nosuch\" not found",
			"url": "https://cd.example.com/repos/custom-node", "time": "2026-12-02T10:00:00Z"}`},
		{"json prune limit", FormatJSON, Event{Kind: KindRefused, Org: "acme.com", Action: "prune", Held: "prune_limit", Repos: []string{"a", "b"},
			Reason: "2 repos would be pruned, more than --prune-limit 1: none is pruned"}, `{
			"version": 1, "kind": "refused", "org": "acme.com", "action": "prune", "held": "prune_limit", "repos": ["a", "b"],
			"summary": "Pruning refused (acme.com): 2 repos would be pruned, more than --prune-limit 1: none is pruned",
			"reason": "2 repos would be pruned, more than --prune-limit 1: none is pruned", "time": "2026-12-02T10:00:00Z"}`},
		{"slack settings invalid", FormatSlack, Event{Kind: KindRefused, Org: "acme.com", Held: "settings_invalid", Repos: []string{"py`thon", "<b>"},
			Reason:   "ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed",
			Problems: []string{"ca-images-iac/.ca-reconciler.yaml:2:5: repos.x.suspend: want a boolean"}, URL: "https://cd.example.com"}, `{
			"text": "Writes held back (acme.com): ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed",
			"blocks": [
				{"type": "section", "text": {"type": "mrkdwn", "text": "*Writes held back (acme.com): ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed*"}},
				{"type": "section", "text": {"type": "mrkdwn", "text": "Repos: ` + "`py'thon`, `&lt;b&gt;`" + `"}},
				{"type": "section", "text": {"type": "mrkdwn", "text": "` + "```" + `ca-images-iac/.ca-reconciler.yaml:2:5: repos.x.suspend: want a boolean` + "```" + `"}},
				{"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://cd.example.com|ca-reconciler>"}]}
			]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newSink(t)
			c := newCounter()
			n := start(t, Config{Targets: []Target{{URL: srv.URL, Format: tc.format}}, Observe: c.observe})
			n.Notify(tc.event)
			c.Wait(t, 1)
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]map[string]any{want}, s.got()); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlackSectionsFit(t *testing.T) {
	long := make([]string, 500)
	for i := range long {
		long[i] = strings.Repeat("x", 40)
	}
	b, err := encode(FormatSlack, Event{Kind: KindBuildFailed, Org: "o", Repo: "r", Summary: strings.Repeat("s", 5000), LogTail: long})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Blocks []struct {
			Text struct{ Text string } `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	for i, bl := range p.Blocks {
		if n := len([]rune(bl.Text.Text)); n > slackSectionMax {
			t.Errorf("block %d has %d characters, over Slack's %d", i, n, slackSectionMax)
		}
	}
	if !strings.HasSuffix(p.Blocks[1].Text.Text, "\n…```") {
		t.Errorf("a cut log tail does not end with a mark and the fence: %q", p.Blocks[1].Text.Text[len(p.Blocks[1].Text.Text)-20:])
	}
}

// TestDeduplicates: one message per repo and kind until what it says
// changes; the time does not count; Forget starts over.
func TestDeduplicates(t *testing.T) {
	s, srv := newSink(t)
	c := newCounter()
	now := t0
	n := start(t, Config{Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Observe: c.observe, Now: func() time.Time { return now }})
	stalled := Event{Kind: KindStalled, Org: "o", Repo: "jdk", Revision: "r1"}
	n.Notify(stalled)
	now = now.Add(time.Hour)
	n.Notify(stalled)                                        // duplicate
	n.Notify(Event{Kind: KindStalled, Org: "o", Repo: "py"}) // another repo
	n.Notify(Event{Kind: KindBuildFailed, Org: "o", Repo: "jdk"})
	stalled.Revision = "r2"
	n.Notify(stalled) // changed
	n.Notify(stalled) // duplicate
	n.Forget("jdk")
	n.Notify(stalled) // after recovery
	c.Wait(t, 5)
	s.wantFields(t, []string{"kind", "repo", "revision"}, "stalled jdk r1", "stalled py <nil>", "build_failed jdk <nil>", "stalled jdk r2", "stalled jdk r2")
	c.wantDuplicates(t, 2)
}

// TestDeduplicatesRefusals: a guard's refusal, notified every cycle, is
// sent once per guard until what it says changes; each guard and each
// repo's refusal is its own message; Resolved starts one of them over and
// leaves the others (and Forget of a repo leaves the organization's).
func TestDeduplicatesRefusals(t *testing.T) {
	s, srv := newSink(t)
	c := newCounter()
	n := start(t, Config{Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Observe: c.observe})
	limit := Event{Kind: KindRefused, Org: "o", Action: "prune", Held: "prune_limit", Repos: []string{"a", "b"}, Reason: "2 repos would be pruned"}
	settings := Event{Kind: KindRefused, Org: "o", Held: "settings_invalid", Repos: []string{"a"}, Reason: "invalid"}
	create := Event{Kind: KindRefused, Org: "o", Repo: "a", Action: "create", Reason: "source refused"}
	sig := Event{Kind: KindSignatureRefused, Org: "o", Revision: "r1"}
	for range 3 { // three cycles
		n.Notify(limit)
		n.Notify(settings)
		n.Notify(create)
		n.Notify(sig)
	}
	limit.Repos, limit.Reason = []string{"a", "b", "c"}, "3 repos would be pruned"
	n.Notify(limit) // changed
	n.Forget("a")   // the repo recovered: its own refusal starts over
	n.Notify(create)
	n.Notify(limit) // the organization's are not the repo's
	n.Notify(sig)
	n.Resolved(KindRefused, "", "prune_limit")
	n.Notify(limit)    // the guard lifted, then held again
	n.Notify(settings) // another guard, still a duplicate
	c.Wait(t, 7)
	s.wantFields(t, []string{"kind", "repo", "held", "repos"},
		"refused <nil> prune_limit [a b]", "refused <nil> settings_invalid [a]", "refused a <nil> <nil>", "signature_refused <nil> <nil> <nil>",
		"refused <nil> prune_limit [a b c]", "refused a <nil> <nil>", "refused <nil> prune_limit [a b c]",
	)
	c.wantDuplicates(t, 11)
}

// TestDroppedIsTriedAgain: a message the rate limit dropped is not taken
// for sent: notified again once the bucket has a token, it goes out.
func TestDroppedIsTriedAgain(t *testing.T) {
	s, srv := newSink(t)
	c := newCounter()
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n := start(t, Config{Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Rate: rate.Every(time.Minute), Burst: 1, Observe: c.observe, Now: clock})
	first := Event{Kind: KindBuildFailed, Org: "o", Repo: "a"}
	refusal := Event{Kind: KindRefused, Org: "o", Action: "prune", Held: "no_files", Reason: "no valid file"}
	n.Notify(first)
	n.Notify(refusal) // dropped: no token
	c.Wait(t, 1)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	n.Notify(refusal) // the next cycle: sent
	n.Notify(refusal) // and now a duplicate
	c.Wait(t, 1)
	s.wantFields(t, []string{"kind"}, "build_failed", "refused")
	want := []string{"0 sent", "0 rate_limited", "0 duplicate", "0 sent"}
	if diff := cmp.Diff(want, c.All(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestRateLimit: a token bucket per target; with the clock stopped, only
// the burst goes out and the rest is dropped and counted; tokens come back
// as the clock moves. A second target has its own bucket.
func TestRateLimit(t *testing.T) {
	s1, srv1 := newSink(t)
	s2, srv2 := newSink(t)
	c := newCounter()
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n := start(t, Config{
		Targets: []Target{{URL: srv1.URL, Format: FormatJSON}, {URL: srv2.URL, Format: FormatSlack}},
		Rate:    rate.Every(time.Minute), Burst: 2, Observe: c.observe, Now: clock,
	})
	for i := range 5 {
		n.Notify(Event{Kind: KindBuildFailed, Org: "o", Repo: fmt.Sprintf("r%d", i)})
	}
	c.Wait(t, 4)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	n.Notify(Event{Kind: KindBuildFailed, Org: "o", Repo: "later"})
	c.Wait(t, 2)
	count := map[string]int{}
	for _, r := range c.All() {
		count[r]++
	}
	want := map[string]int{"0 sent": 3, "1 sent": 3, "0 rate_limited": 3, "1 rate_limited": 3}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if len(s1.got()) != 3 || len(s2.got()) != 3 {
		t.Errorf("delivered %d and %d, want 3 each", len(s1.got()), len(s2.got()))
	}
}

// TestQueueBounded: Notify never blocks; with nothing delivering, a full
// queue drops and counts.
func TestQueueBounded(t *testing.T) {
	c := newCounter()
	n := New(Config{Targets: []Target{{URL: "http://127.0.0.1:1/", Format: FormatJSON}}, QueueSize: 2, Burst: 100, Rate: rate.Inf, Observe: c.observe})
	for i := range 10 {
		n.Notify(Event{Kind: KindBuildFailed, Org: "o", Repo: fmt.Sprintf("r%d", i)})
	}
	if full := c.count("0 " + ResultQueueFull); full != 8 || len(n.targets[0].queue) != 2 {
		t.Errorf("%d dropped with %d queued, want 8 and 2", full, len(n.targets[0].queue))
	}
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []int
		want     []string
		requests int
	}{
		{"5xx then ok", []int{500, 502}, []string{"0 retry", "0 retry", "0 sent"}, 3},
		{"429 then ok", []int{429}, []string{"0 retry", "0 sent"}, 2},
		{"400 is permanent", []int{400}, []string{"0 failed"}, 1},
		{"out of tries", []int{500, 500, 500}, []string{"0 retry", "0 retry", "0 failed"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newSink(t, tc.script...)
			c := newCounter()
			n := start(t, Config{Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Retries: 2, Observe: c.observe})
			n.Notify(Event{Kind: KindStalled, Org: "o", Repo: "r"})
			c.Wait(t, len(tc.want))
			if diff := cmp.Diff(tc.want, c.All()); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if len(s.got()) != tc.requests {
				t.Errorf("%d requests, want %d", len(s.got()), tc.requests)
			}
		})
	}
}

// TestURLsStaySecret: a Slack-like URL whose path is the secret, answered
// with errors, and a URL whose server is gone: neither URL appears in the
// logs, errors or the metric labels.
func TestURLsStaySecret(t *testing.T) {
	const secret = "T0SECRET/B0SECRET/xoxbSECRETSECRET"
	s, srv := newSink(t, 500, 500, 500, 500)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/services/" + secret
	_ = l.Close()
	core, logs := observer.New(zapcore.DebugLevel)
	c := newCounter()
	n := start(t, Config{
		Targets: []Target{{URL: srv.URL + "/services/" + secret, Format: FormatSlack}, {URL: closed, Format: FormatJSON}},
		Retries: 1, Observe: c.observe, Logger: zap.New(core),
	})
	n.Notify(Event{Kind: KindBuildFailed, Org: "o", Repo: "r"})
	c.Wait(t, 4) // retry + failed for each target
	if len(s.got()) != 2 || s.paths[0] != "/services/"+secret {
		t.Fatalf("the sink got %d requests on %v", len(s.got()), s.paths)
	}
	var all strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Message, e.ContextMap())
	}
	for _, r := range c.All() {
		all.WriteString(r + "\n")
	}
	if !strings.Contains(all.String(), "500 Internal Server Error") || !strings.Contains(all.String(), "connection refused") {
		t.Errorf("the logs do not say why delivery failed:\n%s", all.String())
	}
	if strings.Contains(all.String(), "SECRET") || strings.Contains(all.String(), "/services/") {
		t.Errorf("a notify URL appears in the logs or results:\n%s", all.String())
	}
}

// TestDrain: what is queued is delivered before Drain returns, without Run.
func TestDrain(t *testing.T) {
	s, srv := newSink(t)
	n := New(Config{Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Now: func() time.Time { return t0 }})
	n.Notify(Event{Kind: KindStalled, Org: "o", Repo: "a"})
	n.Notify(Event{Kind: KindStalled, Org: "o", Repo: "b"})
	n.Drain(t.Context())
	if len(s.got()) != 2 {
		t.Errorf("%d delivered, want 2", len(s.got()))
	}
}
