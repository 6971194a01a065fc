// Package gitsource keeps a local copy of one ref of a Git repository and hands
// out the files under one folder of it as a [Snapshot].
//
// A [Source] is made with [New], which only checks its [Config]; every error from
// New is a configuration error. [Source.Fetch] then does the network work:
//
//   - The first call reuses the clone kept in Config.CacheDir, or makes one:
//     the full history of the one ref, without tags, into a bare repository.
//     A cache that cannot be read (truncated objects, a garbage HEAD, a
//     shallow clone made by an earlier version, ...) is removed and cloned
//     again, with a log line; so is anything that is not a usable folder
//     where the cache or Config.CacheDir should be (a file, a folder whose
//     owner lost its permissions, which are given back so it can be
//     removed). Only a CacheDir that cannot be made at all (under a file, on
//     a read-only disk) fails the Fetch, naming the folder.
//   - Every call first lists the remote's refs (git ls-remote). When the ref
//     still points where it did, Fetch returns the previous Snapshot with
//     [Unchanged] and fetches nothing.
//   - Otherwise it fetches the ref, forced, so force-pushed branches and moved
//     tags are followed, and reads the files straight from the commit's tree;
//     there is no worktree. The fetch is incremental: it tells the server
//     which commits the cache has and asks for a thin pack, so a push that
//     changes one file of a folder of 5,000 costs a few hundred bytes (the
//     new blob, trees as deltas, the commit), not the folder again. New
//     objects are kept loose and packed into one packfile once there are
//     256 of them; after 50 packfiles the next change is cloned afresh. A
//     ref that moves back to a commit the cache holds costs no fetch at all.
//   - A Ref that is a full commit hash is fetched once by hash. Many servers
//     (plain git-upload-pack without uploadpack.allowReachableSHA1InWant, for
//     one) refuse a want for an object that is not a ref tip; Fetch then falls
//     back to a full fetch of all branches and tags and looks the commit up.
//     A commit cannot move, so later calls do no network work at all.
//
// Every network operation (ls-remote, fetch, clone) is bounded by
// Config.Timeout. go-git's SSH transport does not watch the context while it
// connects, so an operation that overruns its deadline is left to finish in the
// background; Fetch returns at the deadline regardless, and the cache stays
// locked until the straggler ends.
//
// A Snapshot's FS is the commit's tree under Config.Path, a [*Tree] read
// lazily from the cache: it holds no file content, lists every entry with its
// type (symbolic links and submodules included, never followed), and gives
// each regular file's blob id ([Tree.BlobHash]) so that a caller can reuse
// what it parsed from an unchanged file without reading it. It stays
// readable across later Fetches until the cache is cloned afresh; then its
// reads fail with [ErrSnapshotGone].
//
// With Config.History, a Snapshot also carries EverPaths: the names of the
// files that any commit reachable from its revision held directly under
// Config.Path, so a caller knows a deleted file was once there (ownership for
// pruning). The first Fetch walks the whole history (0.15 s at 5,000 files
// and 200 commits), later ones only the new commits (2 ms for one); a
// force-push to a history without the last revision walks it all again. The
// answer is kept in memory only: after a restart, or with a fresh cache
// folder, it is recomputed from the clone, which always has full history.
//
// Fetch reads only the commit and the folders down to Config.Path; files are
// read when the FS is. A read that finds an object of the cache missing or
// corrupt fails (callers must treat the snapshot as unreadable, not as
// missing that file), and the next Fetch clones the cache afresh, even when
// the ref has not moved.
// When Config.Keyring is set, the commit must carry an OpenPGP signature made by
// one of its keys; otherwise Fetch fails with an error matching [ErrUnverified]
// and [Source.LastVerified] keeps returning the last snapshot that passed.
//
// Credentials are read from files on every Fetch, so they can be rotated
// without a restart, and never appear in errors or logs: passwords embedded in
// URLs are rejected by New, and every error and log line that crosses the Git
// transport goes through package internal/redact, which removes the secrets
// in every form (literal, URL-encoded, base64 user:password, Authorization
// header values, tokens) and drops the body go-git appends to a 401, 403 or
// 404 error (a proxy may echo the request, credentials included, in it).
// Config.Names lets a command line name its flags in messages
// ("--git-password-file" rather than Auth.PasswordFile).
//
// [WebhookHandlers] serve push webhooks (GitHub, GitLab, generic HMAC) that
// only ask for a cycle. They bound what a client can hold: a body must arrive
// within BodyTimeout (a read deadline the handler sets on the connection), at
// most MaxConcurrent requests are served at once (more are refused unread,
// 503), refusals are logged at debug and every kind of line at most once a
// second; [WebhookServerTimeouts] are the server settings to go with them. A
// delivery seen again within ReplayWindow (GitHub's delivery id or signed
// body, GitLab's event id) is answered but triggers nothing.
//
// One Source owns its CacheDir; Fetch calls on one Source are serialized.
// The package knows nothing about what the files contain.
package gitsource
