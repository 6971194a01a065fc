package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"chainguard.dev/sdk/events"
	"chainguard.dev/sdk/events/receiver"
	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	eventsv1 "chainguard.dev/sdk/proto/platform/events/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// received is what a sink saw of one verified event.
type received struct {
	Type, Subject, Group, Actor, Name string
}

// sink is a webhook receiver built with the SDK's own
// events/receiver, verifying the emulator's tokens against its issuer.
type sink struct {
	mu  sync.Mutex
	got []received
	url string
}

func newSink(t *testing.T, emu *emulator.Server, group string) *sink {
	t.Helper()
	s := &sink{}
	h, err := receiver.NewHTTPHandler(t.Context(), emu.IssuerURL(), group, func(_ context.Context, ev cloudevents.Event) error {
		occ, err := events.Decode(ev)
		if err != nil {
			return err
		}
		r := received{Type: ev.Type(), Subject: ev.Subject(), Actor: occ.Actor.Subject}
		if g, ok := ev.Extensions()[events.GroupKey].(string); ok {
			r.Group = g
		}
		switch b := occ.Body.(type) {
		case *registryv1.Repo:
			r.Name = "v1:" + b.GetName()
		case *registryv2.Repo:
			r.Name = "v2:" + b.GetName()
		case *registryv1.DeleteRepoRequest:
			r.Name = "delete"
		default:
			r.Name = fmt.Sprintf("%T", b)
		}
		s.mu.Lock()
		s.got = append(s.got, r)
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/hook"
	return s
}

func (s *sink) events() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]received(nil), s.got...)
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// Every repo write, through v1, v2 or the Console, is delivered to the
// subscriptions of the repo's group and the groups above it as the
// platform's CloudEvent, with a token that the SDK's receiver verifies
// against the emulator's issuer, and the actor in the Occurrence.
func TestEventsReachSubscribers(t *testing.T) {
	emu, url := start(t, emulator.Options{Token: "s3cret", EventRetryDelay: 10 * time.Millisecond, EventAttempts: 3})
	if emu.IssuerURL() != url {
		t.Fatalf("IssuerURL() = %q, want the emulator's URL %q", emu.IssuerURL(), url)
	}
	c := dial(t, url, "s3cret")
	subs := eventsv1.NewSubscriptionsClient(c.Connection())
	org := emu.CreateOrg("acme.example")
	other := emu.CreateOrg("other.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	otherID := emu.CreateRepo(other, customRepo("busybox")).GetId()

	mine, theirs := newSink(t, emu, org), newSink(t, emu, other)
	// A receiver that expects another group refuses what it is sent.
	wrongGroup := newSink(t, emu, other)
	for _, sub := range []struct{ parent, sink string }{{org, mine.url}, {other, theirs.url}, {org, wrongGroup.url}} {
		if _, err := subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: sub.parent, Subscription: &eventsv1.Subscription{Sink: sub.sink}}); err != nil {
			t.Fatal(err)
		}
	}

	// v1 UpdateRepo, v2 UpdateRepo, a Console edit, a create and a delete
	// in acme; one write in the other org.
	r := readRepo(t, c, id)
	r.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"A": "1"}}
	if _, err := c.Registry().Registry().UpdateRepo(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := reposV2(c).ReposService().UpdateRepo(t.Context(), &registryv2.UpdateRepoRequest{Repo: &registryv2.Repo{Uid: id, Description: "patched"}}); err != nil {
		t.Fatal(err)
	}
	if err := emu.ConsoleEditBy(emulator.Actor{Subject: "alice", Claims: map[string]string{"email": "alice@example.com"}}, id, &registryv1.CustomOverlay{}); err != nil {
		t.Fatal(err)
	}
	created, err := c.Registry().Registry().CreateRepo(t.Context(), &registryv1.CreateRepoRequest{ParentId: org, Repo: &registryv1.Repo{Name: "custom-nginx", SyncConfig: &registryv1.SyncConfig{Source: "nginx"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Registry().Registry().DeleteRepo(t.Context(), &registryv1.DeleteRepoRequest{Id: created.GetId()}); err != nil {
		t.Fatal(err)
	}
	if err := emu.ConsoleEdit(otherID, &registryv1.CustomOverlay{}); err != nil {
		t.Fatal(err)
	}
	// A refused write emits nothing.
	bad := readRepo(t, c, id)
	bad.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"CHAINGUARD_X": "1"}}
	_, err = c.Registry().Registry().UpdateRepo(t.Context(), bad)
	wantStatus(t, err, codes.InvalidArgument, `custom_overlay.environment: environment variable "CHAINGUARD_X" uses reserved prefix "CHAINGUARD_"`)

	wantMine := []received{
		{emulator.EventRepoCreated, created.GetId(), org, "api-token", "v1:custom-nginx"},
		{emulator.EventRepoDeleted, created.GetId(), org, "api-token", "delete"},
		{emulator.EventRepoUpdated, id, org, "alice", "v1:nginx"},
		{emulator.EventRepoUpdated, id, org, "api-token", "v1:nginx"},
		{emulator.EventRepoUpdated, id, org, "api-token", "v2:nginx"},
	}
	sort.Slice(wantMine, func(i, j int) bool { return fmt.Sprint(wantMine[i]) < fmt.Sprint(wantMine[j]) })
	eventually(t, "acme's events", func() bool { return len(mine.events()) == len(wantMine) })
	if diff := cmp.Diff(wantMine, mine.events()); diff != "" {
		t.Errorf("acme's sink (-want +got):\n%s", diff)
	}
	eventually(t, "the other org's event", func() bool { return len(theirs.events()) == 1 })
	if diff := cmp.Diff([]received{{emulator.EventRepoUpdated, otherID, other, "console-user", "v1:busybox"}}, theirs.events()); diff != "" {
		t.Errorf("other org's sink (-want +got):\n%s", diff)
	}
	// The receiver for the wrong group refused every attempt: 403, tried
	// EventAttempts times each.
	eventually(t, "the refused deliveries", func() bool {
		n := 0
		for _, d := range emu.Deliveries() {
			if d.Sink == wrongGroup.url && d.Status == http.StatusForbidden {
				n++
			}
		}
		return n == len(wantMine)*3
	})
	if n := len(wrongGroup.events()); n != 0 {
		t.Errorf("a receiver for another group accepted %d events", n)
	}
}

// Deliveries are retried with a growing delay until the sink takes them,
// and never hold up the API call that caused them.
func TestEventDeliveryRetriesAndNeverBlocks(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{EventRetryDelay: time.Millisecond})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()

	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(flaky.Close)
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); stuck.Close() })
	subs := eventsv1.NewSubscriptionsClient(c.Connection())
	for _, u := range []string{flaky.URL, stuck.URL} {
		if _, err := subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: org, Subscription: &eventsv1.Subscription{Sink: u}}); err != nil {
			t.Fatal(err)
		}
	}
	// The sink that never answers does not hold the write up: it returns
	// while that delivery is still in flight.
	if err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{Environment: map[string]string{"A": "1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the flaky sink to take it", func() bool {
		for _, d := range emu.Deliveries() {
			if d.Sink == flaky.URL && d.Status == http.StatusAccepted {
				return true
			}
		}
		return false
	})
	var attempts []int
	for _, d := range emu.Deliveries() {
		if d.Sink == flaky.URL {
			attempts = append(attempts, d.Status)
		}
	}
	if diff := cmp.Diff([]int{503, 503, 202}, attempts); diff != "" {
		t.Errorf("attempts at the flaky sink (-want +got):\n%s", diff)
	}
}

func TestSubscriptions(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	subs := eventsv1.NewSubscriptionsClient(c.Connection())
	org := emu.CreateOrg("acme.example")
	other := emu.CreateOrg("other.example")
	a, err := subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: org, Subscription: &eventsv1.Subscription{Sink: "https://hooks.example.com/a"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: other, Subscription: &eventsv1.Subscription{Sink: "http://127.0.0.1:1/b"}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(f *eventsv1.SubscriptionFilter) []*eventsv1.Subscription {
		t.Helper()
		l, err := subs.List(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		return l.GetItems()
	}
	for _, tc := range []struct {
		name   string
		filter *eventsv1.SubscriptionFilter
		want   []*eventsv1.Subscription
	}{
		{"acme's", &eventsv1.SubscriptionFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}}, []*eventsv1.Subscription{a}},
		{"by id", &eventsv1.SubscriptionFilter{Id: b.GetId()}, []*eventsv1.Subscription{b}},
	} {
		if diff := cmp.Diff(tc.want, list(tc.filter), cmp.Comparer(proto.Equal)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	_, err = subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: org, Subscription: &eventsv1.Subscription{Sink: "hooks.example.com"}})
	wantStatus(t, err, codes.InvalidArgument, `sink "hooks.example.com" is not an http or https URL`)
	_, err = subs.Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: "nope", Subscription: &eventsv1.Subscription{Sink: "https://x.example"}})
	wantStatus(t, err, codes.NotFound, `group "nope" not found`)
	if _, err := subs.Delete(t.Context(), &eventsv1.DeleteSubscriptionRequest{Id: a.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = subs.Delete(t.Context(), &eventsv1.DeleteSubscriptionRequest{Id: a.GetId()})
	wantStatus(t, err, codes.NotFound, `subscription "`+a.GetId()+`" not found`)
	if got := list(&eventsv1.SubscriptionFilter{}); len(got) != 1 {
		t.Errorf("after Delete, %d subscriptions, want 1", len(got))
	}
}

// A delivery token is a bearer credential: it goes to the sink and
// nowhere else the emulator keeps or shows (its deliveries, its counts).
func TestDeliveryTokensStayWithTheSink(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	tokens := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens <- strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}))
	t.Cleanup(hook.Close)
	if _, err := eventsv1.NewSubscriptionsClient(c.Connection()).Create(t.Context(), &eventsv1.CreateSubscriptionRequest{ParentId: org, Subscription: &eventsv1.Subscription{Sink: hook.URL}}); err != nil {
		t.Fatal(err)
	}
	if err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{}); err != nil {
		t.Fatal(err)
	}
	token := <-tokens
	if len(token) < 100 || strings.Count(token, ".") != 2 {
		t.Fatalf("the sink got %q, want a JWT", token)
	}
	eventually(t, "the delivery to be recorded", func() bool { return len(emu.Deliveries()) == 1 })
	var counts strings.Builder
	if err := emu.WriteCounts(&counts); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"Deliveries": fmt.Sprintf("%+v", emu.Deliveries()), "WriteCounts": counts.String(), "IssuerURL": emu.IssuerURL()} {
		if strings.Contains(text, token) || strings.Contains(text, strings.Split(token, ".")[2]) {
			t.Errorf("%s shows the delivery token", what)
		}
	}
}
