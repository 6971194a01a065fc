package cgevents

import (
	"bytes"
	"crypto/sha256"
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

	"chainguard.dev/go-oidctest/pkg/oidctest"
	"chainguard.dev/sdk/events"
	eventsregistry "chainguard.dev/sdk/events/registry"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

const (
	group      = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"
	otherGroup = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"
	pythonID   = group + "/1111111111111111"
	strangerID = group + "/2222222222222222"
)

// mint signs a delivery token as Chainguard's webhook component does: for
// subject webhook:GROUP, audience customer, with the data's digest.
func mint(t *testing.T, signer jose.Signer, issuer, subject string, data []byte, expiry time.Time) string {
	t.Helper()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: issuer, Subject: subject, Audience: jwt.Audience{"customer"},
		IssuedAt: jwt.NewNumericDate(expiry.Add(-time.Hour)), Expiry: jwt.NewNumericDate(expiry),
	}).Claims(map[string]any{"webhook": map[string]string{"digest": fmt.Sprintf("sha256:%x", sha256.Sum256(data))}}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// repoEvent is the CloudEvent the platform sends when a repo is updated:
// an Occurrence (actor and body, the Repo as protojson).
func repoEvent(t *testing.T, typ, repoID, name string, actor *events.Actor) cloudevents.Event {
	t.Helper()
	body, err := protojson.Marshal(&registryv1.Repo{Id: repoID, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{"actor": actor, "body": json.RawMessage(body)})
	if err != nil {
		t.Fatal(err)
	}
	e := cloudevents.NewEvent()
	e.SetID("9f0d204d-9579-4e03-89d3-33810a5d4dd6")
	e.SetType(typ)
	e.SetSource("https://console-api.enforce.dev")
	e.SetSubject(repoID)
	e.SetExtension(events.GroupKey, group)
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// withBody is e with its occurrence body replaced by body.
func withBody(t *testing.T, e cloudevents.Event, actor *events.Actor, body string) cloudevents.Event {
	t.Helper()
	data, err := json.Marshal(map[string]any{"actor": actor, "body": json.RawMessage(body)})
	if err != nil {
		t.Fatal(err)
	}
	e = e.Clone()
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// withData is e with data as its whole data.
func withData(t *testing.T, e cloudevents.Event, data string) cloudevents.Event {
	t.Helper()
	e = e.Clone()
	if err := e.SetData(cloudevents.ApplicationJSON, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return e
}

// otherSubjectOf is e with another subject: the token signs the data, not
// the subject.
func otherSubjectOf(e cloudevents.Event, subject string) cloudevents.Event {
	e = e.Clone()
	e.SetSubject(subject)
	return e
}

// deliver posts e in CloudEvents binary mode (structured when asked) with
// the token, to the handler behind a real HTTP server.
func deliver(t *testing.T, url string, e cloudevents.Event, token string, structured bool) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return testenv.Status(t, req)
}

// recorder is the daemon's side: it records triggers, actors and results.
type recorder struct {
	mu       sync.Mutex
	triggers []string
	actors   []string
	results  []string
}

func (r *recorder) NoteActor(repoID, actor string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actors = append(r.actors, repoID+" "+actor)
}

func (r *recorder) trigger(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.triggers = append(r.triggers, reason)
}

func (r *recorder) observe(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, result)
}

func managed(id string) (string, bool) {
	if id == pythonID {
		return "python", true
	}
	return "", false
}

func serve(t *testing.T, issuer string) (*recorder, string) {
	t.Helper()
	rec := &recorder{}
	h, err := New(Config{Issuer: issuer, Group: func() string { return group }, Managed: managed, Actors: rec, Trigger: rec.trigger, Observe: rec.observe})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return rec, srv.URL + Path
}

// newHandler makes a Handler of cfg for group's managed repos, triggering
// and observing into a new recorder, and a server for it that closes when
// the test ends.
func newHandler(t *testing.T, cfg Config) (*recorder, *Handler, *httptest.Server) {
	t.Helper()
	rec := &recorder{}
	cfg.Group, cfg.Managed, cfg.Trigger, cfg.Observe = func() string { return group }, managed, rec.trigger, rec.observe
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return rec, h, srv
}

func TestHandler(t *testing.T) {
	signer, issuer := oidctest.NewIssuer(t)
	otherSigner, otherIssuer := oidctest.NewIssuer(t)
	alice := &events.Actor{Subject: "c0ffee/aaaa", Actor: map[string]string{"email": "alice@example.com"}}
	robot := &events.Actor{Subject: "c0ffee/robot"}
	later := time.Now().Add(time.Hour)
	updated := eventsregistry.RepoUpdatedEventType
	good := repoEvent(t, updated, pythonID, "python", alice)
	tampered := repoEvent(t, updated, pythonID, "python", robot)
	// A newer service's body: fields this SDK does not know, in the repo
	// and in its overlay (Guarded Entrypoint).
	newer := withBody(t, good, alice, `{"id":"`+pythonID+`","name":"python","customOverlay":{"guardedEntrypoint":{"failMode":"FAIL_CLOSED"}},"tagScopedOverlays":[{"tag":"latest"}]}`)
	// A write through registry v2: a v2 Repo, named by uid.
	v2Body := withBody(t, good, alice, `{"uid":"`+pythonID+`","name":"python","activeTags":["latest"]}`)
	// A body that is no Repo at all: the subject names the repo.
	notARepo := withBody(t, good, alice, `{"id":42}`)
	// An actor of another shape names nobody, and the body still names
	// the repo (so a subject naming another one is passed over).
	oddActor := withData(t, good, `{"actor":"someone","body":{"id":"`+pythonID+`","name":"python"}}`)
	oddActorStranger := otherSubjectOf(oddActor, strangerID)
	// The token signs the data, not the subject: a subject that names
	// another repo than the body, v1 or v2, is passed over, and the signed
	// body names the repo.
	strangerSubject := otherSubjectOf(good, strangerID)
	redirected := otherSubjectOf(repoEvent(t, updated, strangerID, "busybox", alice), pythonID)
	v2StrangerSubject := otherSubjectOf(v2Body, strangerID)
	// signed is a delivery token for e's data, for the group, from the issuer.
	signed := func(e cloudevents.Event) string { return mint(t, signer, issuer, "webhook:"+group, e.Data(), later) }
	for _, tc := range []struct {
		name       string
		event      cloudevents.Event
		token      string
		structured bool
		want       int
		result     string
		triggered  bool
		actor      string
	}{
		{name: "a Console edit of a managed repo", event: good, token: signed(good),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "structured mode", event: good, token: signed(good), structured: true,
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "a newer service's body with fields this SDK does not know", event: newer, token: signed(newer),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "a registry v2 body, named by uid", event: v2Body, token: signed(v2Body),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "a body that is no repo: the subject names it", event: notARepo, token: signed(notARepo),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "an actor of another shape", event: oddActor, token: signed(oddActor),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: ""},
		{name: "an actor of another shape and a subject that is not the body's repo", event: oddActorStranger, token: signed(oddActorStranger),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: ""},
		{name: "a subject that is not the body's repo: the body's repo", event: strangerSubject, token: signed(strangerSubject),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "a subject naming a managed repo over another body: the body's, unmanaged", event: redirected, token: signed(redirected),
			want: http.StatusOK, result: ResultIgnored},
		{name: "a subject that is not the v2 body's uid: the body's repo", event: v2StrangerSubject, token: signed(v2StrangerSubject),
			want: http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " alice@example.com"},
		{name: "an actor without email is named by its id", event: repoEvent(t, updated, pythonID, "python", robot),
			token: signed(repoEvent(t, updated, pythonID, "python", robot)),
			want:  http.StatusAccepted, result: ResultAccepted, triggered: true, actor: pythonID + " c0ffee/robot"},
		{name: "a repo the daemon does not manage", event: repoEvent(t, updated, strangerID, "busybox", alice),
			token: signed(repoEvent(t, updated, strangerID, "busybox", alice)),
			want:  http.StatusOK, result: ResultIgnored},
		{name: "another event type", event: repoEvent(t, eventsregistry.RepoCreatedEventType, pythonID, "python", alice),
			token: signed(good),
			want:  http.StatusOK, result: ResultIgnored},
		{name: "no token", event: good, want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "another group's event", event: good, token: mint(t, signer, issuer, "webhook:"+otherGroup, good.Data(), later),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "not from the webhook component", event: good, token: mint(t, signer, issuer, "user:"+group, good.Data(), later),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "signed by another issuer", event: good, token: mint(t, otherSigner, otherIssuer, "webhook:"+group, good.Data(), later),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "signed by another key claiming the issuer", event: good, token: mint(t, otherSigner, issuer, "webhook:"+group, good.Data(), later),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "body changed after signing", event: tampered, token: signed(good),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "expired token", event: good, token: mint(t, signer, issuer, "webhook:"+group, good.Data(), time.Now().Add(-time.Minute)),
			want: http.StatusUnauthorized, result: ResultUnauthorized},
		{name: "garbage token", event: good, token: "not.a.jwt", want: http.StatusUnauthorized, result: ResultUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, url := serve(t, issuer)
			if got := deliver(t, url, tc.event, tc.token, tc.structured); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			var wantTriggers, wantActors []string
			if tc.triggered {
				wantTriggers = []string{TriggerReason}
			}
			if tc.actor != "" {
				wantActors = []string{tc.actor}
			}
			if diff := cmp.Diff(wantTriggers, rec.triggers); diff != "" {
				t.Errorf("triggers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantActors, rec.actors); diff != "" {
				t.Errorf("actors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tc.result}, rec.results); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerBadRequests(t *testing.T) {
	signer, issuer := oidctest.NewIssuer(t)
	rec, url := serve(t, issuer)
	post := func(method, contentType, auth string, body []byte) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		return testenv.Status(t, req)
	}
	tok := mint(t, signer, issuer, "webhook:"+group, []byte("{}"), time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"GET", post(http.MethodGet, "application/json", tok, nil), http.StatusMethodNotAllowed},
		{"not a CloudEvent", post(http.MethodPost, "application/json", tok, []byte("{}")), http.StatusBadRequest},
		{"too large", post(http.MethodPost, "application/json", tok, bytes.Repeat([]byte("x"), MaxBody+1)), http.StatusRequestEntityTooLarge},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if len(rec.triggers) != 0 {
		t.Errorf("triggered %v", rec.triggers)
	}
	if diff := cmp.Diff([]string{ResultBadMethod, ResultBadRequest, ResultTooLarge}, rec.results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestIssuerUnreachable: while the issuer cannot be reached nothing can be
// verified: 503 and nothing triggered (the handler tries discovery again
// on the next delivery).
func TestIssuerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	_ = l.Close()
	rec, url := serve(t, issuer)
	signer, realIssuer := oidctest.NewIssuer(t)
	e := repoEvent(t, eventsregistry.RepoUpdatedEventType, pythonID, "python", nil)
	if got := deliver(t, url, e, mint(t, signer, realIssuer, "webhook:"+group, e.Data(), time.Now().Add(time.Hour)), false); got != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", got)
	}
	if len(rec.triggers) != 0 || !strings.Contains(strings.Join(rec.results, ","), ResultUnavailable) {
		t.Errorf("triggers %v, results %v", rec.triggers, rec.results)
	}
}

func TestNewErrors(t *testing.T) {
	trig := func(string) {}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Group: func() string { return group }, Managed: managed, Trigger: trig}, "chainguard events: no issuer"},
		{Config{Issuer: "https://issuer.enforce.dev", Managed: managed, Trigger: trig}, "chainguard events: no group"},
		{Config{Issuer: "https://issuer.enforce.dev", Group: func() string { return group }}, "chainguard events: Managed and Trigger are required"},
	} {
		if _, err := New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}

// TestSlowAndConcurrentRequests: a body that does not arrive within
// BodyTimeout is answered 408; while MaxConcurrent requests are in
// progress, another is refused at once with 503 and Retry-After.
func TestSlowAndConcurrentRequests(t *testing.T) {
	rec, h, srv := newHandler(t, Config{Issuer: "http://127.0.0.1:1", MaxConcurrent: 1, BodyTimeout: 200 * time.Millisecond})
	pr, pw := io.Pipe()
	defer pw.Close()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, pr)
		req.Header.Set("Authorization", "Bearer x")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	for len(h.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("second request: %d, Retry-After %q; want 503, 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := <-slow; code != http.StatusRequestTimeout {
		t.Errorf("slow request: %d, want 408", code)
	}
	if diff := cmp.Diff([]string{ResultBusy, ResultTimeout}, rec.results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if len(rec.triggers) != 0 {
		t.Errorf("triggered %v", rec.triggers)
	}
}

// A client that keeps trickling its body is cut off with its answer, both
// when it timed out (408) and when it was refused unread while the handler
// was busy (503), on a server without timeouts of its own; every other
// answer closes its connection too. Before, the handler cleared the read
// deadline it set, and the server then drained the rest of the body for as
// long as the client sent it.
func TestRefusedConnectionsClose(t *testing.T) {
	// newHandler registers the server's Close before the tricklers'
	// cleanups, so they run first: the tricklers stop and their
	// connections close before the server waits for its handlers.
	_, h, srv := newHandler(t, Config{Issuer: "http://127.0.0.1:1", MaxConcurrent: 1, BodyTimeout: 2 * time.Second})
	trickle := func() net.Conn {
		return testenv.Trickle(t, srv.Listener.Addr().String(), "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nce-specversion: 1.0\r\nContent-Length: 100000\r\n\r\n{")
	}
	slow := trickle()
	for len(h.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	testenv.AnswerThenEOF(t, "refused while busy", trickle(), http.StatusServiceUnavailable)
	testenv.AnswerThenEOF(t, "body too slow", slow, http.StatusRequestTimeout)
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("no token: status %d, close %v; want 401 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// A delivery whose token fails verification comes from anyone: it is
// logged at debug only (with why), at most once a second with the number
// suppressed since, so a flood of them cannot fill the logs.
func TestRefusedTokensLogAtDebug(t *testing.T) {
	signer, issuer := oidctest.NewIssuer(t)
	otherSigner, _ := oidctest.NewIssuer(t)
	core, logs := observer.New(zapcore.DebugLevel)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	rec, _, srv := newHandler(t, Config{Issuer: issuer, Logger: zap.New(core), Clock: clk})
	good := repoEvent(t, eventsregistry.RepoUpdatedEventType, pythonID, "python", nil)
	later := time.Now().Add(time.Hour)
	bad := []string{mint(t, otherSigner, issuer, "webhook:"+group, good.Data(), later), mint(t, signer, issuer, "webhook:"+otherGroup, good.Data(), later)}
	for i := range 10 {
		if got := deliver(t, srv.URL, good, bad[i%2], false); got != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", got)
		}
		if i == 0 || i == 8 {
			clk.Advance(time.Second)
		}
	}
	var suppressed []any
	for _, e := range logs.FilterLevelExact(zapcore.DebugLevel).FilterField(zap.String("result", ResultUnauthorized)).All() {
		suppressed = append(suppressed, e.ContextMap()["suppressed"])
	}
	if diff := cmp.Diff([]any{int64(0), int64(0), int64(7)}, suppressed); diff != "" {
		t.Errorf("debug lines' suppressed counts for ten refused tokens (-want +got):\n%s", diff)
	}
	for _, e := range logs.All() {
		if e.Level > zapcore.DebugLevel {
			t.Errorf("a refused token logged at %s: %s %v", e.Level, e.Message, e.Context)
		}
	}
	if len(rec.results) != 10 {
		t.Errorf("counted %d requests, want 10", len(rec.results))
	}
}

// A verified delivery seen again within the window (as captured, or with a
// new event id and the same token) is answered 200 and triggers nothing;
// past the window it counts again.
func TestReplayedDeliveries(t *testing.T) {
	signer, issuer := oidctest.NewIssuer(t)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	rec, _, srv := newHandler(t, Config{Issuer: issuer, Clock: clk})
	alice := &events.Actor{Subject: "c0ffee/aaaa"}
	e := repoEvent(t, eventsregistry.RepoUpdatedEventType, pythonID, "python", alice)
	tok := mint(t, signer, issuer, "webhook:"+group, e.Data(), time.Now().Add(time.Hour))
	renamed := e.Clone()
	renamed.SetID("another-id")
	second := mint(t, signer, issuer, "webhook:"+group, e.Data(), time.Now().Add(2*time.Hour))
	for i, tc := range []struct {
		event  cloudevents.Event
		token  string
		after  time.Duration
		want   int
		result string
	}{
		{e, tok, 0, http.StatusAccepted, ResultAccepted},
		{e, tok, 0, http.StatusOK, ResultReplayed},                      // as captured
		{renamed, tok, 0, http.StatusOK, ResultReplayed},                // a new id, the same token
		{e, second, 0, http.StatusOK, ResultReplayed},                   // a redelivery keeps its id
		{e, tok, 61 * time.Minute, http.StatusAccepted, ResultAccepted}, // past the window
	} {
		clk.Advance(tc.after)
		if got := deliver(t, srv.URL, tc.event, tc.token, false); got != tc.want {
			t.Errorf("case %d: status %d, want %d", i, got, tc.want)
		}
		if got := rec.results[len(rec.results)-1]; got != tc.result {
			t.Errorf("case %d: result %s, want %s", i, got, tc.result)
		}
	}
	if len(rec.triggers) != 2 {
		t.Errorf("%d triggers, want 2 (the first delivery and the one past the window)", len(rec.triggers))
	}
}
