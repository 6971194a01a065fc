// Package emulator is an in-memory Chainguard API: a real gRPC server that
// speaks the services ca-reconciler uses, exactly as the SDK's own clients
// (chainguard.dev/sdk/proto/platform) call them:
//
//   - IAM Groups: Create and List (GroupFilter id, name and UIDP semantics).
//     Ids are UIDPs; organizations are root groups.
//   - Registry: CreateRepo, ListRepos (RepoFilter), UpdateRepo (a full PUT),
//     DeleteRepo, ListBuildReports (BuildReportFilter) and GetBuildStatus.
//   - Registry v2 ReposService (chainguard.platform.registry.v2) over the
//     same store: GetRepo, ListRepos (page_size default 50, at most 200,
//     page_token cursors, skip, order_by), CreateRepo, DeleteRepo, and
//     UpdateRepo as a PATCH of the update_mask's fields (the implied mask of
//     the populated leaves when none is given, "*" for every settable
//     field) onto the stored message, keeping every other field, unknown
//     ones included. v1 and v2 messages differ in field numbers, so they are
//     mapped field by field, by name. Options.DisableRegistryV2, the seed's
//     registry_v2 and SetRegistryV2 turn it off (Unimplemented).
//   - APK: ListAPKs of each organization's catalog (APKFilter and its
//     pagination); PermissionDenied for an organization without one.
//   - Events Subscriptions: Create, List and Delete. Every repo change
//     through the API or ConsoleEdit (v1 or v2 UpdateRepo, CreateRepo,
//     DeleteRepo) is delivered, in the background and retried, as the
//     platform's CloudEvent (dev.chainguard.api.platform.registry.repo.
//     updated.v1, ...; the Occurrence with the actor) to each subscription
//     of the repo's group or a group above it, with a token signed by the
//     emulator's own OIDC issuer, whose discovery document and JWKS it
//     serves over HTTP on the same address (IssuerURL), so that
//     chainguard.dev/sdk/events/receiver verifies deliveries for real.
//   - OIDC SecurityTokenService (when Options.Issuers is set): Exchange and
//     ExchangeRefreshToken, as chainguard.dev/sdk/sts calls them with the
//     emulator's URL as the issuer. It verifies the presented OIDC token
//     (signature against the issuer's JWKS or keys, audience, expiry) and
//     the identity (CreateIdentity), and issues ES256 access tokens that the
//     API accepts until they expire, with rotating refresh tokens.
//
// It enforces what the real service enforces on UpdateRepo: sync_config is
// owned by Chainguard and must be echoed exactly; only Custom Assembly repos
// (sync_config.apko_overlay set) take a custom_overlay; certificates and
// runtime repositories need the organization's entitlements; and the
// overlay's fields follow the service's documented rules (rules.go, the
// emulator's own statement of them, written from Chainguard's documentation
// and never shared with the daemon: a dependency test keeps every daemon
// package out of the emulator). Every successful update starts one simulated
// build per active tag, which installs the repo's base packages and the
// overlay's from the organization's catalog (the packages APK.ListAPKs
// serves) with apko's own resolver, for each of the repo's architectures:
// it fails for the reasons apk gives (a missing package or dependency, a
// version nothing satisfies, a conflict, a package not built for one of the
// architectures) with apk's explanation as the log's last lines, or
// succeeds after Options.BuildDuration with a locked_config; or it
// hangs until Options.BuildTimeout when it names a package listed as slow.
//
// CreateRepo with sync_config.source creates a Custom Assembly repo from a
// repo of the organization or a catalog image it is entitled to (the seed's
// source_images), stored as a UIDP, with the sync_config the server
// completes; see sources.go.
//
// It behaves as a service newer than the SDK: every field it is sent,
// including fields the SDK does not know (kept by protobuf as unknown
// fields), is stored and returned byte for byte by CreateRepo, UpdateRepo
// and ListRepos, at every level of the repo; a seed can hold such fields
// (unknown_fields), so that clients can be shown to keep them.
//
// Repos are indexed by id and by (group, name), and build reports by repo,
// so that no lookup scans every repo: a write costs the same at 100 repos
// as at 5,000. Options.Latency (the seed's latency, the emulator command's
// --latency) adds a fixed delay to every call, so that a benchmark shows
// wall time as it would be against the real API.
//
// For tests it offers fault injection (InjectFault, InjectLatency), request
// counts per method and code (Counts, WriteCounts, CountsHandler), optional
// bearer-token authentication, and admin methods that bypass the API
// (CreateOrg, CreateRepo, SetCatalog, SetCatalogPackages, SetBaseImage,
// SetSourceImages, Repo, BuildReports, TriggerRebuild).
//
// A typical test:
//
//	emu := emulator.New(emulator.Options{BuildDuration: 50 * time.Millisecond})
//	t.Cleanup(emu.Close)
//	url, err := emu.Start("127.0.0.1:0")
//	orgID := emu.CreateOrg("acme.example", "certificates")
//	repo := emu.CreateRepo(orgID, &registryv1.Repo{Name: "nginx", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "contents: {}"}})
//	clients, err := platform.NewPlatformClients(ctx, url, auth.NewFromToken(ctx, "Bearer x", false))
//
// The same server backs `ca-reconciler run --api local` and
// `ca-reconciler emulator`, which load a seed file (LoadSeed, ApplySeed).
package emulator
