// Package chainguard is the live side of ca-reconciler: it talks to the
// Chainguard API through chainguard.dev/sdk. It resolves an organization by
// name or id, lists every repo of an organization with its overlay in one
// call, writes a repo's overlay by read-modify-write (every other field of
// the repo is sent back exactly as read, because UpdateRepo is a full PUT),
// reads build reports, and supplies credentials (a static token, a token
// file that is re-read when it changes, or workload identity through the
// security token service).
//
// Every call carries a deadline, errors are wrapped and named by operation
// and classified as retryable or not, and no token ever appears in an error.
// The package decides nothing about what to write; the reconciler does.
package chainguard
