// Package cgevents receives Chainguard's own CloudEvents at
// POST /hooks/chainguard, so that a change made in the Console (or by
// anyone, through the API) is seen at once instead of at the next poll, and
// with who made it.
//
// Every delivery is verified by the SDK's own receiver
// (chainguard.dev/sdk/events/receiver): the Authorization header carries an
// OIDC token from the platform's issuer (--issuer), with audience
// "customer", subject "webhook:<group>" for the organization's group, and a
// claim holding the SHA-256 of the event's data. A delivery that fails any
// check, or has no token, is refused with 401 and triggers nothing.
//
// A verified dev.chainguard.api.platform.registry.repo.updated.v1 event for
// a repo the daemon manages hands the event's actor to an ActorNoter (so
// the drift it caused is logged, counted and notified with who made it)
// and triggers a cycle at once; the reconciler's Trigger coalesces bursts.
// Other events, and repos the daemon does not manage, are accepted and
// ignored. The payload is used only to name the repo and the actor: what to
// write is always decided from Git and the live API.
package cgevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	"chainguard.dev/sdk/events"
	"chainguard.dev/sdk/events/receiver"
	eventsregistry "chainguard.dev/sdk/events/registry"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/clock"
	"github.com/ca-reconciler/ca-reconciler/internal/defaults"
	"github.com/ca-reconciler/ca-reconciler/internal/hookguard"
	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// Path is where the handler is served.
const Path = "/hooks/chainguard"

// MaxBody is the largest delivery accepted (1 MiB).
const MaxBody = 1 << 20

// TriggerReason is the reason given to Trigger.
const TriggerReason = "chainguard-event"

// Results, as counted by Config.Observe.
const (
	ResultAccepted     = "accepted"     // a managed repo changed: cycle triggered
	ResultIgnored      = "ignored"      // verified, but another event type or an unmanaged repo
	ResultUnauthorized = "unauthorized" // no token, or the token failed verification
	ResultBadRequest   = "bad_request"  // not a CloudEvent, or a repo event without a repo
	ResultTooLarge     = "too_large"
	ResultBadMethod    = "bad_method"
	ResultUnavailable  = "unavailable" // the issuer could not be reached to verify
	ResultBusy         = "busy"        // MaxConcurrent requests already in progress
	ResultTimeout      = "timeout"     // the body did not arrive within BodyTimeout
	ResultReplayed     = "replayed"    // verified, but seen within ReplayWindow: nothing triggered
)

// Defaults, as for the push webhooks.
const (
	DefaultMaxConcurrent = 16
	DefaultBodyTimeout   = 10 * time.Second
	DefaultReplayWindow  = time.Hour
)

// ActorNoter is told who changed a repo, before the cycle that sees the
// change runs. The reconciler (or its store) implements it.
type ActorNoter interface {
	NoteActor(repoID, actor string)
}

// Config configures the handler.
type Config struct {
	// Issuer is the platform's OIDC issuer that signs deliveries
	// (--issuer, https://issuer.enforce.dev).
	Issuer string
	// Group returns the organization's group id (UIDP), which deliveries
	// must be addressed to; "" while it is not known yet (the daemon
	// resolves the organization in its first cycle), and then deliveries
	// are answered 503.
	Group func() string
	// Managed reports whether the daemon manages the repo with this id
	// and, if so, its name.
	Managed func(repoID string) (name string, ok bool)
	// Actors is told the actor of each accepted event; nil to ignore.
	Actors ActorNoter
	// Trigger asks for a cycle; it must not block.
	Trigger func(reason string)
	// Observe counts each request by result.
	Observe func(result string)
	Logger  *zap.Logger
	// MaxConcurrent bounds the requests served at once (more get 503 and
	// Retry-After: 1); BodyTimeout bounds reading one body (then 408).
	MaxConcurrent int
	BodyTimeout   time.Duration
	// ReplayWindow is how long verified deliveries are remembered: the
	// same one again (by its event id, or by its token, which a replay
	// must reuse) is answered 200 and triggers nothing.
	// DefaultReplayWindow when zero.
	ReplayWindow time.Duration
	// Clock is the time of replay windows and log spacing; the wall clock
	// when nil.
	Clock clock.Clock
}

// Handler serves POST /hooks/chainguard. It connects to the issuer (OIDC
// discovery) on the first delivery, and again after a failure, so that an
// issuer that is down at start does not stop the daemon.
type Handler struct {
	cfg     Config
	slots   chan struct{}
	seen    *hookguard.Replays
	refused *hookguard.LogLimit

	mu     sync.Mutex
	verify receiver.Handler
}

// New returns the handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("chainguard events: no issuer")
	case cfg.Group == nil:
		return nil, errors.New("chainguard events: no group")
	case cfg.Managed == nil || cfg.Trigger == nil:
		return nil, errors.New("chainguard events: Managed and Trigger are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	defaults.Positive(&cfg.MaxConcurrent, DefaultMaxConcurrent)
	defaults.Positive(&cfg.BodyTimeout, DefaultBodyTimeout)
	defaults.Positive(&cfg.ReplayWindow, DefaultReplayWindow)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Handler{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent),
		seen: hookguard.NewReplays(cfg.ReplayWindow), refused: hookguard.NewLogLimit(hookguard.LogEvery)}, nil
}

// verified is what the SDK's receiver passes on after verification.
type verified struct {
	result string
	repoID string
	repo   string
	actor  string
	// reason is why a delivery's verification failed, for the debug line.
	reason string
}

type verifiedKey struct{}

// verifier returns the SDK's verifying handler, making it on first use.
func (h *Handler) verifier(ctx context.Context) (receiver.Handler, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.verify != nil {
		return h.verify, nil
	}
	group := h.cfg.Group()
	if group == "" {
		return nil, errors.New("the organization's group id is not known yet")
	}
	v, err := receiver.New(context.WithoutCancel(ctx), h.cfg.Issuer, group, func(ctx context.Context, e cloudevents.Event) error {
		out, _ := ctx.Value(verifiedKey{}).(*verified)
		if out == nil {
			return errors.New("no result slot on the context")
		}
		*out = h.classify(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.verify = v
	return v, nil
}

// classify reads a verified event: which repo, which actor.
func (h *Handler) classify(e cloudevents.Event) verified {
	if e.Type() != eventsregistry.RepoUpdatedEventType {
		return verified{result: ResultIgnored}
	}
	occ := occurrenceOf(e)
	id := occ.repoID()
	var reason string
	switch {
	case id != "" && e.Subject() != "" && e.Subject() != id:
		// The token signs the data, not the subject: the signed body
		// names the repo. A subject of another shape (a newer service's,
		// for a v2 Repo) must not cost the event; it is only logged.
		reason = "the event's subject is not the repo its body names; the signed body is followed"
	case id == "":
		id = e.Subject()
	}
	if id == "" {
		return verified{result: ResultBadRequest}
	}
	name, ok := h.cfg.Managed(id)
	if !ok {
		return verified{result: ResultIgnored, repoID: id, repo: occ.Body.Name, reason: reason}
	}
	return verified{result: ResultAccepted, repoID: id, repo: name, actor: occ.actor(), reason: reason}
}

// occurrence is what this daemon reads of an event's data: who made the
// change and which repo it names. The body is the API's Repo, as a newer
// service (or registry v2, whose Repo is named by uid) writes it: only
// these three fields are read, and a value of another type is left out
// (encoding/json goes on past it), so unknown fields and other shapes are
// passed over instead of refusing the event, as the SDK's own
// events.DecodeInto would. The payload never decides what is written.
type occurrence struct {
	// Actor is decoded on its own (actor), so that an actor of another
	// shape cannot cost the body its id.
	Actor json.RawMessage `json:"actor"`
	Body  struct {
		ID   string `json:"id"`  // a v1 Repo's
		UID  string `json:"uid"` // a v2 Repo's
		Name string `json:"name"`
	} `json:"body"`
}

// occurrenceOf decodes e's data once; data that is not JSON gives the zero
// occurrence (the event's subject then names the repo).
func occurrenceOf(e cloudevents.Event) occurrence {
	var occ occurrence
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(e.Data(), &occ); err != nil && !errors.As(err, &typeErr) {
		return occurrence{}
	}
	return occ
}

// repoID is the id of the repo the signed body names; "" when it names none.
func (o occurrence) repoID() string {
	if o.Body.ID != "" {
		return o.Body.ID
	}
	return o.Body.UID
}

// actor names who made the change: the actor's email when the event
// carries one, else its subject (an identity id).
func (o occurrence) actor() string {
	var a events.Actor
	if err := json.Unmarshal(o.Actor, &a); err != nil {
		return ""
	}
	if email := a.Actor["email"]; email != "" {
		return email
	}
	return a.Subject
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		v      verified
		status int
	)
	select {
	case h.slots <- struct{}{}:
		v, status = h.handle(w, r)
		<-h.slots
	default:
		v, status = verified{result: ResultBusy}, http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	if h.cfg.Observe != nil {
		h.cfg.Observe(v.result)
	}
	fields := []zap.Field{zap.String("result", v.result), zap.String("remote", r.RemoteAddr)}
	if v.repoID != "" {
		fields = append(fields, zap.String("repo_id", v.repoID), zap.String("repo", v.repo))
	}
	if v.actor != "" {
		fields = append(fields, zap.String("actor", v.actor))
	}
	if v.reason != "" {
		fields = append(fields, zap.String("reason", redact.String(v.reason)))
	}
	switch v.result {
	case ResultAccepted, ResultIgnored:
		h.cfg.Logger.Info("chainguard event", fields...)
	default:
		// Refused and replayed requests come from anyone: at debug, at
		// most one line a second with the number suppressed since, so
		// that a flood cannot fill the logs (the metric counts every one).
		if ok, suppressed := h.refused.Allow(h.cfg.Clock.Now()); ok {
			h.cfg.Logger.Debug("chainguard event", append(fields, zap.Int("suppressed", suppressed))...)
		}
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	// Every answer ends its connection, at once: a delivery comes one per
	// connection, a kept-alive one would sit idle holding one of the
	// server's connections, and the unread body of a refused request would
	// otherwise be drained by the server for as long as a slow client
	// keeps sending it (a read deadline cleared by a handler clears the
	// server's own read timeout too).
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request) (verified, int) {
	if r.Method != http.MethodPost {
		return verified{result: ResultBadMethod}, http.StatusMethodNotAllowed
	}
	if r.Header.Get("Authorization") == "" {
		return verified{result: ResultUnauthorized}, http.StatusUnauthorized
	}
	if r.ContentLength > MaxBody {
		return verified{result: ResultTooLarge}, http.StatusRequestEntityTooLarge
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
	r.Body = http.MaxBytesReader(nil, r.Body, MaxBody)
	event, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return verified{result: ResultTooLarge}, http.StatusRequestEntityTooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return verified{result: ResultTimeout}, http.StatusRequestTimeout
		}
		return verified{result: ResultBadRequest}, http.StatusBadRequest
	}
	verify, err := h.verifier(r.Context())
	if err != nil {
		h.cfg.Logger.Error("chainguard events: the issuer cannot be reached to verify deliveries", zap.String("issuer", h.cfg.Issuer), zap.Error(err))
		return verified{result: ResultUnavailable}, http.StatusServiceUnavailable
	}
	var out verified
	ctx := context.WithValue(cehttp.WithRequestDataAtContext(r.Context(), r), verifiedKey{}, &out)
	if err := verify(ctx, *event); err != nil {
		var res *cehttp.Result
		if errors.As(err, &res) && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden) {
			// The SDK answers 403 for a token that fails verification;
			// to the sender both mean "not authenticated as Chainguard
			// for this group".
			// Anyone can send a token: refusals are logged at debug
			// with the request's line (ServeHTTP), never above.
			return verified{result: ResultUnauthorized, reason: err.Error()}, http.StatusUnauthorized
		}
		return verified{result: ResultBadRequest, reason: err.Error()}, http.StatusBadRequest
	}
	if out.result == ResultAccepted || out.result == ResultIgnored {
		keys := []string{"event " + event.Source() + " " + event.ID(), "token " + tokenDigest(r.Header.Get("Authorization"))}
		if h.seen.Again(keys, h.cfg.Clock.Now()) {
			return verified{result: ResultReplayed}, http.StatusOK
		}
	}
	switch out.result {
	case ResultAccepted:
		if h.cfg.Actors != nil && out.actor != "" {
			h.cfg.Actors.NoteActor(out.repoID, out.actor)
		}
		h.cfg.Trigger(TriggerReason)
		return out, http.StatusAccepted
	case ResultBadRequest:
		return out, http.StatusBadRequest
	}
	return out, http.StatusOK
}

// tokenDigest is a SHA-256 of a delivery's Authorization header: each
// delivery's token is minted for it, so a replay with a new event id is
// still recognised; the token itself is not kept.
func tokenDigest(authorization string) string {
	sum := sha256.Sum256([]byte(authorization))
	return hex.EncodeToString(sum[:])
}
