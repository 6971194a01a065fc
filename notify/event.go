package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Kind is what happened.
type Kind string

// Kinds of notification.
const (
	// KindDriftCorrected: a repo's live overlay differed from its file (a
	// Console edit, say) and was written back.
	KindDriftCorrected Kind = "drift_corrected"
	// KindStalled: a repo's writes do not converge; it is no longer written.
	KindStalled Kind = "stalled"
	// KindBuildFailed: a build failed or timed out.
	KindBuildFailed Kind = "build_failed"
	// KindRefused: a create or a prune was refused, by the service (a
	// source the organization may not use, or any create or prune it
	// refuses for good: one message per repo, Action says which) or by a
	// guard that holds writes back (Held: prune_limit and no_files refuse
	// every prune of a cycle, settings_invalid every write while the
	// settings file is invalid: one message for the organization, Repos
	// names the repos held back).
	KindRefused Kind = "refused"
	// KindSignatureRefused: a revision was refused by commit signature
	// verification; the last verified revision is kept.
	KindSignatureRefused Kind = "signature_refused"
)

// SchemaVersion is the version field of the JSON payload.
const SchemaVersion = 1

// Event is one thing worth telling people. It is also the JSON payload
// (see the README): every field but kind, org and summary may be empty.
type Event struct {
	Version int  `json:"version"`
	Kind    Kind `json:"kind"`
	// Org is the organization; Repo the image repo (empty for a refused
	// revision).
	Org  string `json:"org"`
	Repo string `json:"repo,omitempty"`
	// Revision is the Git revision being reconciled (for a refused head,
	// the last verified revision, which is kept).
	Revision string `json:"revision,omitempty"`
	// Summary is one line for people.
	Summary string `json:"summary"`
	// Actor is who made the change, when known (from Chainguard's event).
	Actor string `json:"actor,omitempty"`
	// Diff is what was written (drift corrected) or is being refused.
	Diff []string `json:"diff,omitempty"`
	// Reason is why a repo stalled, a build failed, or something was
	// refused.
	Reason string `json:"reason,omitempty"`
	// Action is the write refused (create, prune), when it is one kind.
	Action string `json:"action,omitempty"`
	// Held is the guard that refused (prune_limit, no_files,
	// settings_invalid); Repos are the repos it holds back, sorted.
	Held  string   `json:"held,omitempty"`
	Repos []string `json:"repos,omitempty"`
	// Problems are the file:line:col errors behind a refusal (the
	// settings file's).
	Problems []string `json:"problems,omitempty"`
	// BuildID and LogTail are a failed build's id and its last log lines.
	BuildID string   `json:"build_id,omitempty"`
	LogTail []string `json:"log_tail,omitempty"`
	// URL links to the daemon's page, when --external-url is set.
	URL string `json:"url,omitempty"`
	// Time is when it happened; it is not part of the content that
	// deduplication compares.
	Time time.Time `json:"time"`
}

// contentHash identifies what an event says, without its time.
func (e Event) contentHash() string {
	e.Time = time.Time{}
	e.Version = 0
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
