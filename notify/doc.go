// Package notify tells people in chat or any HTTP endpoint what the daemon
// did that needs their attention: drift corrected (with the diff and, when
// Chainguard's event named one, the actor), a repo stalled, a build failed
// (with its log tail), a prune or create refused, a revision refused by
// commit signature verification.
//
// Each --notify-url is a Target. Slack's incoming webhooks (host
// hooks.slack.com) get Slack's payload, {"text": ..., "blocks": [...]} with
// mrkdwn escaped as Slack documents (&, <, >); every other URL gets the
// Event as JSON (schema version 1, documented in the README).
//
// Notify never blocks. Messages are deduplicated (one per repo and kind
// until what it says changes; Forget clears a repo that recovered), rate
// limited by a token bucket per target (dropped messages are counted), and
// delivered in the background by one goroutine per target from a bounded
// queue, with retries and jittered backoff on network errors, 408, 429 and
// 5xx. A target is named by its position ("0", "1", ...) in logs, errors
// and metrics: its URL, which for Slack is the secret, appears in none.
package notify
