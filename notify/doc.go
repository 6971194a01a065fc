// Package notify tells people in chat or any HTTP endpoint what the daemon
// did that needs their attention: drift corrected (with the diff and, when
// Chainguard's event named one, the actor), a repo stalled, a build failed
// (with its log tail), a create or prune refused (by the service, or by a
// guard that holds writes back: the prune limit, a folder without a valid
// file, an invalid settings file), a revision refused by commit signature
// verification.
//
// A create or a prune that succeeds is not announced: like an update, it
// is what a commit asked for, and the commit status, the log and the
// metrics report it. Drift corrected is only for writes that put back a
// change not made in Git.
//
// Each --notify-url is a Target. Slack's incoming webhooks (host
// hooks.slack.com) get Slack's payload, {"text": ..., "blocks": [...]} with
// mrkdwn escaped as Slack documents (&, <, >); every other URL gets the
// Event as JSON (schema version 1, documented in the README).
//
// Notify never blocks. Messages are deduplicated per target: one per kind
// and repo (and, for a guard's refusal, guard) until what it says changes,
// so a refusal notified every cycle is sent once; Forget clears a repo that
// recovered and Resolved one thing that no longer holds. They are rate
// limited by a token bucket per target (dropped messages are counted, and
// not remembered, so a message notified again is tried again), and
// delivered in the background by one goroutine per target from a bounded
// queue, with retries and jittered backoff on network errors, 408, 429 and
// 5xx. A target is named by its position ("0", "1", ...) in logs, errors
// and metrics: its URL, which for Slack is the secret, appears in none.
package notify
