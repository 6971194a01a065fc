package emulator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	eventsv1 "chainguard.dev/sdk/proto/platform/events/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The platform tells subscribers what changed with CloudEvents: each
// subscription (chainguard.platform.events.Subscriptions) names a sink URL
// under a group, and every event of that group or of a group below it is
// POSTed there, as a binary-mode CloudEvent whose data is the Occurrence
// (chainguard.dev/sdk/events: the actor, and the body, the protojson of the
// API's answer). chainguard.dev/sdk/events/receiver shows how a delivery is
// authenticated: an OIDC token in the Authorization header, issued by the
// platform's issuer for the audience "customer", whose subject is
// "webhook:" and the subscription's group, and whose webhook.digest claim
// is the SHA-256 of the data. The emulator is that issuer: it serves OIDC
// discovery and its JWKS over HTTP on its own address, so the SDK's
// receiver verifies its tokens for real.

// Event types the emulator emits, from the SDK's event annotations
// (registry v1 and v2 repos).
const (
	EventRepoCreated = "dev.chainguard.api.platform.registry.repo.created.v1"
	EventRepoUpdated = "dev.chainguard.api.platform.registry.repo.updated.v1"
	EventRepoDeleted = "dev.chainguard.api.platform.registry.repo.deleted.v1"
)

// Defaults of event delivery.
const (
	DefaultEventAttempts   = 5
	DefaultEventRetryDelay = 200 * time.Millisecond
	// eventAudience is the audience of delivery tokens, which the SDK's
	// receiver requires.
	eventAudience = "customer"
	// eventTokenTTL is the lifetime of a delivery token.
	eventTokenTTL = 10 * time.Minute
)

// Actor is who made a change, as an event's Occurrence names it: the
// identity (a UIDP, or the emulator's name for a caller without one) and
// the claims that were validated to assume it.
type Actor struct {
	Subject string
	Claims  map[string]string
}

// Actors of calls without an STS identity.
var (
	// ConsoleActor is who ConsoleEdit acts as.
	ConsoleActor = Actor{Subject: "console-user", Claims: map[string]string{"iss": "https://auth.chainguard.dev/", "email": "console-user@example.com"}}
	// TokenActor is a caller that presented Options.Token or a token
	// VerifyToken accepted.
	TokenActor = Actor{Subject: "api-token"}
	// AnonymousActor is a caller of an emulator without authentication.
	AnonymousActor = Actor{Subject: "anonymous"}
)

type actorKey struct{}

// withActor records the caller of a call.
func withActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// actorOf is the caller of a call.
func actorOf(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return AnonymousActor
}

// Delivery is one attempt to deliver an event, for tests.
type Delivery struct {
	Subscription string // the subscription's id
	Sink         string
	Type         string // the event type
	Subject      string // the event subject: the repo id
	Attempt      int    // 1 for the first attempt
	Status       int    // the sink's HTTP status; 0 when it could not be reached
}

// events is the subscriptions and the deliveries in flight.
type events struct {
	key      *ecdsa.PrivateKey
	kid      string
	attempts int
	delay    time.Duration
	client   *http.Client
	now      func() time.Time

	mu         sync.Mutex
	issuer     string // the URL the first served address gives, unless set
	subs       map[string]*eventsv1.Subscription
	deliveries []Delivery
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	seq        int
}

func newEvents(opts Options, now func() time.Time) *events {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("emulator: generating the events signing key: %v", err)) // crypto/rand does not fail
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &events{
		key:      key,
		kid:      randomHex(8),
		attempts: opts.EventAttempts,
		delay:    opts.EventRetryDelay,
		client:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
		now:      now,
		issuer:   opts.EventsIssuer,
		subs:     map[string]*eventsv1.Subscription{},
		ctx:      ctx,
		cancel:   cancel,
	}
	if e.attempts <= 0 {
		e.attempts = DefaultEventAttempts
	}
	if e.delay <= 0 {
		e.delay = DefaultEventRetryDelay
	}
	return e
}

// IssuerURL is the issuer of the emulator's event delivery tokens: give
// it to chainguard.dev/sdk/events/receiver (the daemon's --issuer). It is
// Options.EventsIssuer, or the URL of the first address the emulator
// serves, which serves the issuer's discovery document and JWKS.
func (s *Server) IssuerURL() string {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	return s.events.issuer
}

// setIssuer records the URL of a served address as the issuer, unless one
// is set.
func (e *events) setIssuer(u string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.issuer == "" {
		e.issuer = u
	}
}

// issuerHandler serves the OIDC discovery document and the JWKS of the
// delivery tokens' key.
func (e *events) issuerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := e.issuerURL()
		writeJSON(w, map[string]any{
			"issuer":                                iss,
			"jwks_uri":                              iss + "/.well-known/jwks.json",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		b64 := base64.RawURLEncoding
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": e.kid,
			"x": b64.EncodeToString(e.key.PublicKey.X.FillBytes(make([]byte, 32))),
			"y": b64.EncodeToString(e.key.PublicKey.Y.FillBytes(make([]byte, 32))),
		}}})
	})
	return mux
}

func (e *events) issuerURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issuer
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// webhookClaims are a delivery token's claims.
type webhookClaims struct {
	jwtClaims
	Webhook struct {
		Digest string `json:"digest"`
	} `json:"webhook"`
}

// event is one event to deliver.
type event struct {
	typ, subject, group, bodyType string
	occurrence                    []byte
}

// newEvent makes an event of a repo change: its Occurrence is the actor
// and the API's answer, as protojson.
func newEvent(typ, subject string, actor Actor, body proto.Message) event {
	raw, err := protojson.Marshal(body)
	if err != nil {
		raw = []byte("{}")
	}
	occ, err := json.Marshal(struct {
		Actor *occurrenceActor `json:"actor,omitempty"`
		Body  json.RawMessage  `json:"body"`
	}{&occurrenceActor{Subject: actor.Subject, Actor: actor.Claims}, raw})
	if err != nil {
		occ = []byte(`{"body":{}}`)
	}
	return event{
		typ:        typ,
		subject:    subject,
		group:      uidp.Parent(subject),
		bodyType:   string(body.ProtoReflect().Descriptor().FullName()),
		occurrence: occ,
	}
}

// occurrenceActor is chainguard.dev/sdk/events.Actor.
type occurrenceActor struct {
	Subject string            `json:"subject"`
	Actor   map[string]string `json:"act,omitempty"`
}

// emit delivers ev, in the background, to every subscription of its group
// or of a group above it. It never blocks.
func (e *events) emit(ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return
	}
	ids := slices.Sorted(maps.Keys(e.subs))
	for _, id := range ids {
		sub := e.subs[id]
		group := uidp.Parent(id)
		if ev.group != group && !uidp.IsAncestor(group, ev.group) {
			continue
		}
		e.seq++
		e.wg.Add(1)
		go e.deliver(ev, proto.Clone(sub).(*eventsv1.Subscription), fmt.Sprintf("%s-%d", randomHex(8), e.seq))
	}
}

// deliver POSTs one event to one sink, retrying with a doubling delay
// until the sink answers 2xx or the attempts run out.
func (e *events) deliver(ev event, sub *eventsv1.Subscription, id string) {
	defer e.wg.Done()
	delay := e.delay
	for attempt := 1; attempt <= e.attempts; attempt++ {
		code := e.post(ev, sub, id)
		e.mu.Lock()
		e.deliveries = append(e.deliveries, Delivery{
			Subscription: sub.GetId(), Sink: sub.GetSink(), Type: ev.typ, Subject: ev.subject, Attempt: attempt, Status: code,
		})
		e.mu.Unlock()
		if code >= 200 && code < 300 {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay *= 2
	}
}

// post makes one attempt and returns the sink's status, 0 when there was
// none.
func (e *events) post(ev event, sub *eventsv1.Subscription, id string) int {
	now := e.now()
	claims := webhookClaims{jwtClaims: jwtClaims{
		Issuer:   e.issuerURL(),
		Subject:  "webhook:" + uidp.Parent(sub.GetId()),
		Audience: audience{eventAudience},
		IssuedAt: now.Unix(),
		Expiry:   now.Add(eventTokenTTL).Unix(),
		ID:       randomHex(16),
	}}
	sum := sha256.Sum256(ev.occurrence)
	claims.Webhook.Digest = fmt.Sprintf("sha256:%x", sum)
	token, err := signES256(e.key, e.kid, claims)
	if err != nil {
		return 0
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, sub.GetSink(), bytes.NewReader(ev.occurrence))
	if err != nil {
		return 0
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+token)
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", id)
	h.Set("Ce-Type", ev.typ)
	h.Set("Ce-Source", e.issuerURL())
	h.Set("Ce-Subject", ev.subject)
	h.Set("Ce-Time", now.UTC().Format(time.RFC3339Nano))
	h.Set("Ce-Group", ev.group)
	h.Set("Ce-Bodytype", ev.bodyType)
	h.Set("Ce-Audience", "customer")
	h.Set("Ce-Chainguarddev1delivery", "webhook")
	h.Set("Ce-Chainguarddev1webhook", sub.GetSink())
	h.Set("Ce-Chainguarddev1subscription", sub.GetId())
	resp, err := e.client.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// close stops retries and waits for the deliveries in flight.
func (e *events) close() {
	e.mu.Lock()
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()
	e.client.CloseIdleConnections()
}

// Deliveries returns every delivery attempt so far, in the order they
// ended.
func (s *Server) Deliveries() []Delivery {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	return append([]Delivery(nil), s.events.deliveries...)
}

// subscriptionsService is chainguard.platform.events.Subscriptions: Create,
// List and Delete.
type subscriptionsService struct {
	eventsv1.UnimplementedSubscriptionsServer
	s *Server
}

// Create subscribes a sink (an absolute http or https URL) to the events
// of the group parent_id and the groups below it.
func (x *subscriptionsService) Create(_ context.Context, req *eventsv1.CreateSubscriptionRequest) (*eventsv1.Subscription, error) {
	parent := req.GetParentId()
	x.s.store.mu.Lock()
	_, ok := x.s.store.groups[parent]
	x.s.store.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "group %q not found", parent)
	}
	sink := req.GetSubscription().GetSink()
	if u, err := url.Parse(sink); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, status.Errorf(codes.InvalidArgument, "sink %q is not an http or https URL", sink)
	}
	sub := &eventsv1.Subscription{Id: string(uidp.NewUIDP(uidp.UIDP(parent))), Sink: sink}
	e := x.s.events
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs[sub.GetId()] = sub
	return proto.Clone(sub).(*eventsv1.Subscription), nil
}

// List returns the subscriptions matching the filter's id and uidp, by id.
func (x *subscriptionsService) List(_ context.Context, f *eventsv1.SubscriptionFilter) (*eventsv1.SubscriptionList, error) {
	e := x.s.events
	return &eventsv1.SubscriptionList{Items: lockedClones(&e.mu, e.subs, matching[*eventsv1.Subscription](f), byID)}, nil
}

// Delete removes a subscription; deliveries in flight finish.
func (x *subscriptionsService) Delete(_ context.Context, req *eventsv1.DeleteSubscriptionRequest) (*emptypb.Empty, error) {
	e := x.s.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[req.GetId()]; !ok {
		return nil, status.Errorf(codes.NotFound, "subscription %q not found", req.GetId())
	}
	delete(e.subs, req.GetId())
	return &emptypb.Empty{}, nil
}
