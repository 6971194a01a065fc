// Package reconciler keeps Chainguard Custom Assembly repos equal to the
// overlay files in a Git repo.
//
// One cycle: fetch a snapshot from the source, map each file under the
// managed folder to the repo it names and parse it (MapFiles over the
// snapshot's fs.FS; nothing is parsed while the revision does not move, and
// on a new revision only the files whose Git blob changed, on GOMAXPROCS
// goroutines when there are many), read every live repo of the
// organization (every cycle, so Console edits are seen; an overlay is
// canonicalized and hashed only when the Registry's fingerprint of the repo,
// or of its overlay, changed since the previous cycle), compute a Plan with the pure function Compute (one Change
// per repo, sorted), and in apply mode write only the repos that drifted,
// with bounded concurrency and jittered retries.
//
// Run runs a cycle at start, then every jittered interval and on Trigger;
// the pure scheduler nextCycle spaces triggered cycles at least
// Config.TriggerSpacing (1s) apart, so a burst of pushes shares one trailing
// cycle.
//
// What follows from a cycle is decided by a pure state machine, next: from a
// repo's previous state (store.RepoState), its Change and its write's
// result, it returns the new state and Events (drift detected, status
// changed, written, write failed, stalled; repo gone for a repo no file names
// any more). The new states go to the store (package store), which the build
// watcher and the status page read; the events go to Sinks at the edge: the
// metrics, the log, the build watcher, and whatever else is added with
// WithSink. A repo whose writes do not converge is marked stalled and left
// alone until its file changes.
//
// The lifecycle beyond updates (lifecycle.go) is one more pure pass over
// the plan: the folder's settings file (.ca-reconciler.yaml, read by
// MapFiles with the overlays) creates a missing repo from its source and
// suspends repos; with Policy.Prune a repo whose file is gone is reset to
// the empty overlay when the revision's history once held its file
// (Desired.EverPaths); and guards hold writes back (no valid file, more
// prunes than Policy.PruneLimit, an invalid settings file), each as the
// change's Held with its reason in Err, which Apply never writes.
//
// The package declares the small interfaces it needs, Source, Registry and
// BuildWatcher; production wires gitsource, chainguard and buildwatch, and
// tests wire the same real types against local Git repos and the emulator.
package reconciler
