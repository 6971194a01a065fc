// Package chainguard is the live side of ca-reconciler: it talks to the
// Chainguard API through chainguard.dev/sdk. It resolves an organization by
// name or id, lists every repo of an organization with its overlay in one
// call, writes a repo's overlay, creates a repo from a source, reads build
// reports and the organization's package index (for package check), and
// supplies credentials (a static token, a token file that is re-read when it
// changes, or workload identity through the security token service).
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
// # Registry v1 and v2
//
// The SDK carries two registry APIs; this package reads with v1 and writes
// with v2, falling back to v1. The evidence, from the protos in
// chainguard.dev/sdk@v0.1.223:
//
//   - Reads stay on v1. v1 Registry/ListRepos takes a RepoFilter with no
//     paging fields and answers every matching repo, overlay included, in one
//     RepoList: one call per cycle for the whole organization. v2
//     ReposService/ListRepos pages ("Default: 50, Maximum: 200"), so 5,000
//     repos are 25 calls, and its Repo carries nothing the reconciler needs
//     that v1's lacks.
//   - Writes go to v2. v1 UpdateRepo(Repo) is a full PUT: every field is sent
//     back, so a Console edit of any field (description, tags, sync_config)
//     made between our read and our write is overwritten, and the service
//     compares echoed fields such as sync_config.expiration exactly. v2
//     UpdateRepo(UpdateRepoRequest{repo, update_mask}) is a PATCH (HTTP
//     "patch: /registry/v2/repos/{repo.uid=**}"): only the masked paths
//     change. The mask is always explicit, overlaypb.CoveredPathsV2, the ten
//     leaf paths the file format owns (custom_overlay.contents.packages,
//     ..., custom_overlay.certificates.providers), never a whole section, so
//     a field a newer service adds to contents or accounts is outside it. It
//     must be explicit: without one the server implies "all fields that are
//     populated", which would make a reset (the empty file populates
//     nothing) a no-op, and "*" would replace the whole repo.
//   - A write is GetRepo then UpdateRepo, two calls as with v1. The PATCH
//     replaces repeated fields whole, so the read is what lets an entry that
//     survives (a user, a certificate) keep the fields a newer service added
//     to it (overlaypb.ApplyV2); nothing outside the mask is sent.
//   - The messages differ: v2's User.uid, User.gid and Group.gid are int32
//     and User.gid is not optional (v1's is "optional uint32", apko#1449:
//     no gid means apko uses the uid), and field numbers differ (v1
//     Repo.custom_overlay is 7 and CustomOverlay.certificates 15; v2 has 10
//     and 5), so unknown bytes never move between versions. An overlay that
//     v2 cannot say exactly (a user without a gid or with gid 0, an id above
//     2^31-1: overlaypb.CheckV2) is written with v1.
//   - A server without v2 answers Unimplemented; the client then writes with
//     v1 read-modify-write for the rest of its life (RegistryWrites says
//     which), logging it once. The v2 clients are made over the SDK's own
//     connection (platform.Clients.Connection with
//     registryv2.NewClientsFromConnection), so credentials, deadlines and the
//     call observer are the same.
//
// # Listing repos every cycle
//
// ListRepos runs every cycle and, on most, nothing changed. Its answer is
// received encoded (a codec on the same connection, interceptors and
// credentials as every call) and walked field by field: each repo gets a
// 64-bit fingerprint of its bytes in which map entries are combined
// order-independently (a Go server marshals maps in random order) and
// everything else, unknown fields included, is hashed in order. A repo whose
// fingerprint equals the one it had in the previous list of the organization
// is not decoded again: the Repo converted then is returned (so its slices
// and maps are shared between calls; callers only read them). Any other
// repo, and one the walk cannot fingerprint (a map key sent twice, bytes
// that do not parse), is decoded and converted as before. At 5,000 repos an
// unchanged list costs 1 allocation instead of half a million
// (BenchmarkListRepos); ListStats counts the repos decoded and reused.
//
// With ShareOverlays, a repo that is decoded keeps the caller's overlay for
// it in place of the decoded one when the two are the same value: the
// reconciler passes the desired overlays, so each repo in sync holds one
// overlay, the file's, not a second equal copy from the API. ListStats
// counts these as shared.
//
// # Errors
//
// Every call carries a deadline. Every error leaving the transport passes
// one interceptor that classifies it and redacts it with internal/redact, so
// no token appears in an error even when a server or proxy echoes the
// request. Errors are wrapped and named by operation. Retryable says what is
// worth retrying: Unavailable, DeadlineExceeded, Aborted, and
// ResourceExhausted unless it is about message size; a message over a gRPC
// size limit ("received message larger than max") is ErrTooLarge and
// permanent, since the same overlay is as large next time. CreateRepo marks
// a taken name ErrExists and a refused source ErrSourceRefused.
//
// The package decides nothing about what to write; the reconciler does.
package chainguard
