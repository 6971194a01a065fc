// Package reconciler keeps Chainguard Custom Assembly repos equal to the
// overlay files in a Git repo.
//
// One cycle: fetch a snapshot from the source, map each file under the
// managed folder to the repo it names and parse it (reused while the revision
// does not move), read every live repo of the organization (every cycle, so
// Console edits are seen), compute a Plan with the pure function Compute (one
// Change per repo, sorted), and in apply mode write only the repos that
// drifted, with bounded concurrency and jittered retries. A repo whose writes
// do not converge is marked stalled and left alone until its file changes.
//
// The package declares the two small interfaces it needs, Source and
// Registry; production wires gitsource and chainguard, and tests wire the
// same real types against local Git repos and the emulator.
package reconciler
