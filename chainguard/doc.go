// Package chainguard is the live side of ca-reconciler: it talks to the
// Chainguard API through chainguard.dev/sdk. It resolves an organization by
// name or id, lists every repo of an organization with its overlay in one
// call, writes a repo's overlay, reads build reports, and supplies
// credentials (a static token, a token file that is re-read when it changes,
// or workload identity through the security token service).
//
// # Fields this version does not know
//
// The live service is newer than the SDK this build uses: a repo's
// custom_overlay can hold fields (Guarded Entrypoint, tag-scoped overlays)
// that this SDK has no Go field for. Protobuf keeps them on the decoded
// message as unknown fields, and a write keeps them: WriteOverlay reads the
// repo, merges the file's fields into the overlay just read with
// overlaypb.Apply (which changes only the fields the file format covers and
// keeps every other field and every unknown field, of the overlay and of its
// nested messages), and sends the repo back otherwise exactly as read. Each
// attempt, retries included, reads again. Repo.UnknownFields counts the
// unknown fields of the live overlay, so the daemon can say that they are
// there and kept; they are never drift.
//
// Every call carries a deadline, errors are wrapped and named by operation
// and classified as retryable or not, and no token ever appears in an error.
// The package decides nothing about what to write; the reconciler does.
package chainguard
