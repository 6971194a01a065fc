// Package buildwatch follows the Custom Assembly builds of the repos
// ca-reconciler manages, and reports how they end.
//
// A write to a repo's overlay makes Chainguard build the image again;
// Chainguard also rebuilds on its own when packages update. A Watcher is
// told about each successful write (it implements reconciler.BuildWatcher)
// and polls the organization's build reports, without logs, until every
// build it saw start has completed, or has been pending longer than the
// build limit (one hour by default), when it counts as timed out and is no
// longer polled. It counts each build once by repo and result (success,
// failure, timeout), records completed builds' durations, keeps the last
// result per repo (for /status), and for a failed build fetches that one
// build's log and logs its last lines.
//
// Cost does not grow with the number of idle repos: one tick lists the build
// reports of a whole organization in one call (since the oldest build still
// in flight, or the previous poll), and ticks make no call at all while
// nothing is in flight, except one poll per organization every sweep
// interval (the reconcile interval) to catch builds Chainguard started on
// its own.
package buildwatch
