package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chainguard.dev/go-oidctest/pkg/oidctest"
	"chainguard.dev/sdk/auth"
	eventsregistry "chainguard.dev/sdk/events/registry"
	"chainguard.dev/sdk/proto/platform"
	eventsv1 "chainguard.dev/sdk/proto/platform/events/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/pgptest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// statusAPI is a local HTTP server speaking GitHub's "create a commit
// status" endpoint as GitHub documents it; it records each accepted status
// as "SHA STATE: DESCRIPTION" and fails the test on any other request
// shape.
type statusAPI struct {
	t     *testing.T
	token string
	mu    sync.Mutex
	got   []string
	ctx   []string
	urls  []string
}

func (s *statusAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sha, ok := strings.CutPrefix(r.URL.Path, "/repos/acme/images-config/statuses/")
	switch {
	case r.Method != http.MethodPost || !ok || len(sha) != 40:
		s.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
	case r.Header.Get("Authorization") != "Bearer "+s.token:
		s.t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	case r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || r.Header.Get("Content-Type") != "application/json":
		s.t.Errorf("headers %v", r.Header)
	default:
		var body struct{ State, Description, Context, TargetURL string }
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			s.t.Errorf("body %s: %v", raw, err)
		}
		var fields map[string]any
		_ = json.Unmarshal(raw, &fields)
		if len(fields) != 4 {
			s.t.Errorf("body fields %v, want state, description, context, target_url", fields)
		}
		s.mu.Lock()
		s.got = append(s.got, sha+" "+body.State+": "+body.Description)
		s.ctx = append(s.ctx, body.Context)
		s.urls = append(s.urls, fields["target_url"].(string))
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		return
	}
	http.Error(w, "bad request", http.StatusBadRequest)
}

func (s *statusAPI) statuses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// waitFor polls until cond holds (the daemon works in the background).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCommitStatusesEndToEnd runs the daemon against the emulator and a
// real Git repository, reporting to a local server that checks GitHub's
// documented request shape: a revision whose builds succeed gets pending
// then success; a revision with a failed build gets failure naming the
// repo. The token never appears in the logs, the metrics or the pages.
func TestCommitStatusesEndToEnd(t *testing.T) {
	const token = "ghs_COMMITSTATUStoken0123456789"
	f := newFixture(t)
	if err := f.emu.SetCatalog(f.orgID, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}
	f.repo("python", overlay.Overlay{})
	f.repo("nginx", overlay.Overlay{})
	api := &statusAPI{t: t, token: token}
	srv := httptest.NewServer(api)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{
		"ca-images-iac/python.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/nginx.yaml":  "contents:\n  packages: [jq]\n",
	})
	rev1 := f.revision()
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1s", "--build-poll-interval", "1s", "--log-level", "debug",
		"--package-check=false", // the failed build below is one the package check would refuse
		"--commit-status", "github", "--commit-status-url", srv.URL, "--commit-status-repo", "acme/images-config",
		"--commit-status-token-file", tokenFile, "--external-url", "https://cd.example.com/"}, f.getenv)
	waitFor(t, "success of the first revision", func() bool {
		s := api.statuses()
		return len(s) > 0 && strings.Contains(s[len(s)-1], "success")
	})
	// A package outside the catalog: nginx's build fails.
	f.commit(map[string]string{"ca-images-iac/nginx.yaml": "contents:\n  packages: [nosuch]\n"})
	rev2 := f.revision()
	waitFor(t, "failure of the second revision", func() bool {
		s := api.statuses()
		return len(s) > 0 && strings.HasPrefix(s[len(s)-1], rev2+" failure")
	})
	want := []string{
		rev1 + " pending: 2 repos building",
		rev1 + " success: 2 repos written, 2 builds succeeded",
		rev2 + " pending: 1 repo building",
		rev2 + " failure: failed: nginx (build failed)",
	}
	if diff := cmp.Diff(want, api.statuses()); diff != "" {
		t.Errorf("commit statuses (-want +got):\n%s", diff)
	}
	for i, c := range api.ctx {
		if c != "ca-reconciler/acme.example" || api.urls[i] != "https://cd.example.com/" {
			t.Errorf("status %d: context %q, target_url %q", i, c, api.urls[i])
		}
	}
	// The reporter counts a report once the provider answered it.
	var metricsText string
	waitFor(t, "four sent reports in the metrics", func() bool {
		metricsText, _ = get(t, "http://"+d.addr+"/metrics")
		return strings.Contains(metricsText, `ca_reconciler_commit_status_reports_total{result="sent"} 4`)
	})
	page, _ := get(t, "http://"+d.addr+"/")
	status, _ := get(t, "http://"+d.addr+"/status")
	// The per-repo page: linked from the overview, with both overlays, the
	// writes, and the failed build's log tail.
	repoPage, code := get(t, "http://"+d.addr+"/repos/nginx")
	if code != http.StatusOK || !strings.Contains(page, `href="repos/nginx"`) {
		t.Errorf("/repos/nginx: %d; overview links it: %v", code, strings.Contains(page, `href="repos/nginx"`))
	}
	for _, want := range []string{"ca-images-iac/nginx.yaml", "revision <code id=\"set-by\" title=\"" + rev2 + "\">", "    - nosuch", ">failure<", "nosuch", ">written<"} {
		if !strings.Contains(repoPage, want) {
			t.Errorf("/repos/nginx lacks %q:\n%s", want, repoPage)
		}
	}
	d.stop()
	for name, text := range map[string]string{"logs": d.stderr.String(), "metrics": metricsText, "page": page, "status": status, "repo page": repoPage} {
		if strings.Contains(text, token) {
			t.Errorf("the commit status token appears in the %s", name)
		}
	}
}

// revision is the fixture repository's HEAD.
func (f *fixture) revision() string {
	f.t.Helper()
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = f.dir
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestFeedbackFlags(t *testing.T) {
	for _, tc := range []struct {
		f       feedbackOptions
		gitURL  string
		err     string
		repo    string
		targets int
	}{
		{f: feedbackOptions{commitStatus: "github", commitStatusTokenFile: "t"}, gitURL: "git@github.com:acme/images-config.git", repo: "acme/images-config"},
		{f: feedbackOptions{commitStatus: "gitlab", commitStatusTokenFile: "t"}, gitURL: "https://gitlab.com/acme/platform/images.git", repo: "acme/platform/images"},
		{f: feedbackOptions{commitStatus: "gitlab", commitStatusTokenFile: "t", commitStatusRepo: "42"}, gitURL: "/srv/x", repo: "42"},
		{f: feedbackOptions{commitStatus: "github", commitStatusTokenFile: "t"}, gitURL: "/srv/x",
			err: "--commit-status-repo: deriving the commit status repo from the Git URL: not a hosted repository URL; set --commit-status-repo"},
		{f: feedbackOptions{commitStatus: "bitbucket"}, err: `--commit-status: unknown commit status provider "bitbucket" (want github or gitlab)`},
		{f: feedbackOptions{commitStatus: "github"}, err: "--commit-status needs --commit-status-token-file"},
		{f: feedbackOptions{commitStatusTokenFile: "t"}, err: "--commit-status-token-file needs --commit-status github or gitlab"},
		{f: feedbackOptions{commitStatus: "github", commitStatusTokenFile: "t", commitStatusRepo: "a/b", commitStatusURL: "api.github.com"},
			err: "--commit-status-url: want an absolute http:// or https:// URL"},
		{f: feedbackOptions{externalURL: "/relative"}, err: `--external-url "/relative": want an absolute http:// or https:// URL`},
		{f: feedbackOptions{notifyURLs: []string{"https://hooks.slack.com/services/T/B/SECRET,https://alerts.example.com/x", "https://b.example.com"}}, targets: 3},
		{f: feedbackOptions{notifyURLs: []string{"https://a.example.com", "hooks.slack.com/services/T/B/SECRET"}},
			err: "--notify-url (number 2): not an absolute http:// or https:// URL"},
	} {
		err := tc.f.check(tc.gitURL)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err || (err == nil && (tc.f.commitStatusRepo != tc.repo || len(tc.f.notify) != tc.targets)) {
			t.Errorf("check(%+v) = %q, repo %q, %d targets; want %q, %q, %d", tc.f, got, tc.f.commitStatusRepo, len(tc.f.notify), tc.err, tc.repo, tc.targets)
		}
		if strings.Contains(got, "SECRET") {
			t.Errorf("an error shows a notify URL: %s", got)
		}
	}
}

// notifySink is a local HTTP server receiving JSON notifications.
type notifySink struct {
	mu  sync.Mutex
	got []map[string]any
}

func (s *notifySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
		s.mu.Lock()
		s.got = append(s.got, m)
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func (s *notifySink) kinds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.got {
		out = append(out, fmt.Sprint(m["kind"], " ", m["repo"]))
	}
	return out
}

// subscribe subscribes sink to the fixture organization's events, through
// the SDK's client as a user would.
func (f *fixture) subscribe(sink string) {
	f.t.Helper()
	clients, err := platform.NewPlatformClients(f.t.Context(), f.url, auth.NewFromToken(f.t.Context(), "Bearer "+apiToken, false))
	if err != nil {
		f.t.Fatal(err)
	}
	defer clients.Close()
	if _, err := eventsv1.NewSubscriptionsClient(clients.Connection()).Create(f.t.Context(), &eventsv1.CreateSubscriptionRequest{
		ParentId: f.orgID, Subscription: &eventsv1.Subscription{Sink: sink}}); err != nil {
		f.t.Fatal(err)
	}
}

// all returns the notifications of kind, in the order they came.
func (s *notifySink) all(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, m := range s.got {
		if m["kind"] == kind {
			out = append(out, m)
		}
	}
	return out
}

func (s *notifySink) find(kind string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.got {
		if m["kind"] == kind {
			return m
		}
	}
	return nil
}

// TestEventsAndNotificationsEndToEnd: a Console edit announced by a
// Chainguard event (signed by a real local OIDC issuer, verified by the
// SDK's receiver) triggers a cycle at once, well before the next interval;
// the write that puts it back is notified with the event's actor and the
// diff; a failed build is notified with its log tail. An event for
// another organization is refused with 401 and triggers nothing.
func TestEventsAndNotificationsEndToEnd(t *testing.T) {
	signer, issuer := oidctest.NewIssuer(t)
	f := newFixture(t)
	if err := f.emu.SetCatalog(f.orgID, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}
	f.repo("python", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/python.yaml": "contents:\n  packages: [curl]\n"})
	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, []string{"run", "--webhook-secret-file", secretFile, "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1h", "--build-poll-interval", "1s", "--issuer", issuer, "--chainguard-events",
		"--package-check=false", // the failed build below is one the package check would refuse
		"--notify-url", srv.URL + "/hook"}, f.getenv)
	base := "http://" + d.addr
	waitFor(t, "the first cycle", func() bool { return strings.Contains(d.stderr.String(), `"reconcile finished"`) })

	// A Console edit, then the platform's event for it.
	id := f.repoID("python")
	if err := f.emu.ConsoleEdit(id, overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "jq"}})); err != nil {
		t.Fatal(err)
	}
	deliverEvent := func(subject string) int {
		t.Helper()
		body, _ := protojson.Marshal(&registryv1.Repo{Id: id, Name: "python"})
		data, _ := json.Marshal(map[string]any{"actor": map[string]any{"subject": "c0ffee/alice", "act": map[string]string{"email": "alice@example.com"}}, "body": json.RawMessage(body)})
		e := cloudevents.NewEvent()
		e.SetID("1")
		e.SetType(eventsregistry.RepoUpdatedEventType)
		e.SetSource("https://console-api.enforce.dev")
		e.SetSubject(id)
		if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: issuer, Subject: subject, Audience: jwt.Audience{"customer"},
			IssuedAt: jwt.NewNumericDate(time.Now()), Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).
			Claims(map[string]any{"webhook": map[string]string{"digest": fmt.Sprintf("sha256:%x", sha256.Sum256(data))}}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/hooks/chainguard", nil)
		if err := cehttp.WriteRequest(t.Context(), binding.ToMessage(&e), req); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return testenv.Status(t, req)
	}
	cyclesBefore := strings.Count(d.stderr.String(), `"reconcile finished"`)
	if code := deliverEvent("webhook:deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"); code != http.StatusUnauthorized {
		t.Errorf("another organization's event: %d, want 401", code)
	}
	if code := deliverEvent("webhook:" + f.orgID); code != http.StatusAccepted {
		t.Fatalf("the event: %d, want 202\n%s", code, d.stderr.String())
	}
	waitFor(t, "the drift corrected notification", func() bool { return sink.find("drift_corrected") != nil })
	waitFor(t, "the cycle the event triggered", func() bool {
		return strings.Count(d.stderr.String(), `"reconcile finished"`) > cyclesBefore
	})
	got := sink.find("drift_corrected")
	if got["actor"] != "alice@example.com" || fmt.Sprint(got["diff"]) != "[- package jq]" || got["repo"] != "python" {
		t.Errorf("notification %v", got)
	}
	if n := strings.Count(d.stderr.String(), `"reconcile finished"`) - cyclesBefore; n != 1 {
		t.Errorf("%d cycles after the two events, want 1 (the refused one triggers nothing; --interval is 1h)", n)
	}
	if !strings.Contains(d.stderr.String(), `"actor": "alice@example.com"`) && !strings.Contains(d.stderr.String(), `"actor":"alice@example.com"`) {
		t.Errorf("the log does not name the actor")
	}

	// A failed build is notified with its log tail.
	f.commit(map[string]string{"ca-images-iac/python.yaml": "contents:\n  packages: [nosuch]\n"})
	// A push webhook asks for the cycle.
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte("{}"))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/hooks/generic", strings.NewReader("{}"))
	req.Header.Set("X-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push webhook: %v %v", resp, err)
	}
	waitFor(t, "the build failed notification", func() bool { return sink.find("build_failed") != nil })
	if tail := fmt.Sprint(sink.find("build_failed")["log_tail"]); !strings.Contains(tail, "ERROR") || !strings.Contains(tail, "nosuch") {
		t.Errorf("log tail %s", tail)
	}
	if diff := cmp.Diff([]string{"drift_corrected python", "build_failed python"}, sink.kinds()); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	var metricsText string
	waitFor(t, "two sent notifications in the metrics", func() bool {
		metricsText, _ = get(t, base+"/metrics")
		return strings.Contains(metricsText, `ca_reconciler_notifications_total{result="sent",target="0"} 2`)
	})
	for _, want := range []string{`ca_reconciler_chainguard_events_total{result="accepted"} 1`, `ca_reconciler_chainguard_events_total{result="unauthorized"} 1`,
		`ca_reconciler_notifications_total{result="sent",target="0"} 2`, `ca_reconciler_reconciles_total{result="success",trigger="chainguard_event"} 1`} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metricsText, "chainguard_event"))
		}
	}
	d.stop()
	if strings.Contains(d.stderr.String(), "/hook") && strings.Contains(d.stderr.String(), srv.URL) {
		t.Errorf("the notify URL appears in the logs")
	}
}

// TestSignatureRefusedNotified: with a keyring and an unsigned head, the
// daemon writes nothing and says so once, however many cycles run.
func TestSignatureRefusedNotified(t *testing.T) {
	_, keyring := pgptest.NewKey(t, "Trusted")
	keyFile := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(keyFile, []byte(keyring), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.repo("python", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/python.yaml": "contents:\n  packages: [curl]\n"})
	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1s", "--verify-commits-keyring", keyFile, "--notify-url", srv.URL}, f.getenv)
	waitFor(t, "two cycles", func() bool { return strings.Count(d.stderr.String(), `"reconcile failed"`) >= 2 })
	waitFor(t, "the notification", func() bool { return sink.find("signature_refused") != nil })
	d.stop()
	if diff := cmp.Diff([]string{"signature_refused <nil>"}, sink.kinds()); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

// TestConsoleEditDeliveredByTheEmulator: the emulator delivers a Console
// edit to the daemon's /hooks/chainguard as the platform does (a
// subscription created through its Subscriptions service, the event signed
// by its own issuer, verified by the SDK's receiver against --issuer); the
// daemon corrects it at once (--interval is an hour) and names the actor in
// the log and the notification.
func TestConsoleEditDeliveredByTheEmulator(t *testing.T) {
	f := newFixtureWith(t, emulator.Options{EventRetryDelay: 10 * time.Millisecond, EventAttempts: 3})
	f.repo("python", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/python.yaml": "contents:\n  packages: [curl]\n"})
	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1h", "--build-poll-interval", "1s", "--issuer", f.emu.IssuerURL(), "--chainguard-events",
		"--notify-url", srv.URL}, f.getenv)
	waitFor(t, "the first cycle", func() bool { return strings.Contains(d.stderr.String(), `"reconcile finished"`) })

	f.subscribe("http://" + d.addr + "/hooks/chainguard")
	alice := emulator.Actor{Subject: f.orgID + "/a11ce", Claims: map[string]string{"email": "alice@example.com"}}
	start := time.Now()
	if err := f.emu.ConsoleEditBy(alice, f.repoID("python"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", "jq"}})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the correction", func() bool { return strings.Contains(d.stderr.String(), `"repo written"`) })
	t.Logf("Console edit to correction: %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, "the notification", func() bool { return sink.find("drift_corrected") != nil })
	if got := sink.find("drift_corrected"); got["actor"] != "alice@example.com" || fmt.Sprint(got["diff"]) != "[- package jq]" {
		t.Errorf("notification %v", got)
	}
	if !strings.Contains(d.stderr.String(), `"actor":"alice@example.com"`) && !strings.Contains(d.stderr.String(), `"actor": "alice@example.com"`) {
		t.Errorf("the log does not name the actor")
	}
	// The emulator records a delivery once the daemon has answered it,
	// which may be after the correction.
	waitFor(t, "the edit's delivery accepted", func() bool { return acceptedDeliveries(f.emu) >= 1 })
}

// acceptedDeliveries counts the emulator's deliveries the daemon answered
// with 202.
func acceptedDeliveries(emu *emulator.Server) int {
	n := 0
	for _, del := range emu.Deliveries() {
		if del.Status == http.StatusAccepted {
			n++
		}
	}
	return n
}

// With a token file holding a Chainguard token (a JWT: here one the
// emulator's STS issued), the daemon knows its own identity from the
// token's claims, as it does with --identity: the echo of its write is told
// by who made it, not by time, so a second Console edit right after the
// daemon put the first one back is named too. (With an opaque token that
// second edit, inside the 30s echo window, would be corrected unnamed.)
func TestTokenFileNamesTheDaemonsOwnEcho(t *testing.T) {
	idp, err := emulator.NewOIDCIssuer("https://ci.example.com")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, emulator.Options{EventRetryDelay: 10 * time.Millisecond, EventAttempts: 3, Issuers: []emulator.TrustedIssuer{idp.TrustedIssuer()}})
	f.repo("python", overlay.Overlay{Packages: []string{"curl"}})
	f.commit(map[string]string{"ca-images-iac/python.yaml": "contents:\n  packages: [curl]\n"})
	const subject = "repo:acme/images-config"
	identity, oidc := assumable(t, f.emu, f.orgID, idp, subject)
	secrets := t.TempDir()
	token, err := (&chainguard.WorkloadIdentity{Issuer: f.url, Audience: f.url, Identity: identity, OIDCTokenFile: writeFile(t, secrets, "oidc", oidc)}).Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := chainguard.TokenNames(token); len(got) != 1 || got[0] != identity {
		t.Fatalf("the STS token names %q, want the identity %s", got, identity)
	}
	sink := &notifySink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--token-file", writeFile(t, secrets, "token", token),
		"--interval", "1h", "--build-poll-interval", "1s", "--issuer", f.emu.IssuerURL(), "--chainguard-events",
		"--notify-url", srv.URL}, func(string) (string, bool) { return "", false })
	waitFor(t, "the first cycle", func() bool { return strings.Contains(d.stderr.String(), `"reconcile finished"`) })

	f.subscribe("http://" + d.addr + "/hooks/chainguard")
	for i, who := range []string{"alice", "bob"} {
		editor := emulator.Actor{Subject: f.orgID + "/" + who, Claims: map[string]string{"email": who + "@example.com"}}
		if err := f.emu.ConsoleEditBy(editor, f.repoID("python"), overlaypb.ToProto(overlay.Overlay{Packages: []string{"curl", who}})); err != nil {
			t.Fatal(err)
		}
		waitFor(t, who+"'s edit put back", func() bool { return len(sink.all("drift_corrected")) > i })
		if got := sink.all("drift_corrected")[i]; got["actor"] != who+"@example.com" || fmt.Sprint(got["diff"]) != "[- package "+who+"]" {
			t.Errorf("notification %d: %v, want %s's edit named", i, got, who)
		}
	}
	// Both edits and the echoes of both writes reach the daemon. The echo
	// of the second write is delivered after the notification of the
	// correction may already have been sent, so wait for it.
	waitFor(t, "two edits and two writes accepted", func() bool { return acceptedDeliveries(f.emu) >= 4 })
	if strings.Contains(d.stderr.String(), token) {
		t.Errorf("the token reached the log")
	}
}

// TestOnceReportsBeforeExiting: run --once sends its cycle's state before
// it exits (here failure, for an invalid file).
func TestOnceReportsBeforeExiting(t *testing.T) {
	const token = "ghs_ONCEtoken"
	f := newFixture(t)
	f.repo("python", overlay.Overlay{})
	api := &statusAPI{t: t, token: token}
	srv := httptest.NewServer(api)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"ca-images-iac/python.yaml": "environment:\n  CHAINGUARD_X: y\n"})
	code, _, errOut := f.run("run", "--once", "--commit-status", "github", "--commit-status-url", srv.URL,
		"--commit-status-repo", "acme/images-config", "--commit-status-token-file", tokenFile, "--external-url", "https://cd.example.com/")
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, errOut)
	}
	if diff := cmp.Diff([]string{f.revision() + " failure: failed: python (invalid file)"}, api.statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}
