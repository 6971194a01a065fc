package reconciler

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// liveHashes remembers, per repo id, the canonical hash of the repo's live
// overlay together with a cheap fingerprint of the overlay as decoded, so
// that an idle cycle canonicalizes and hashes only the overlays that
// changed since the previous cycle.
//
// The fingerprint is the one chainguard.Client.ListRepos took of the repo's
// encoding (Repo.Fingerprint, map entries combined order-independently, as a
// Go server marshals maps in random order), which costs nothing more here;
// a repo without one (another Registry, an encoding that could not be
// fingerprinted) gets one taken from the decoded overlay, again with map
// entries combined order-independently and everything else in order. Both
// are 64-bit maphashes with random per-process seeds, and the two kinds are
// never compared with each other: an unchanged hash is reused only when the
// fingerprints are equal, and two different overlays of one repo share a
// fingerprint with probability about 2^-64.
type liveHashes struct {
	seed maphash.Seed
	gen  uint64
	byID map[string]liveHash
	// hashed and reused count the last call's overlays that were hashed
	// and those whose hash was reused.
	hashed, reused int
}

type liveHash struct {
	fp   uint64
	wire bool // fp is the Registry's Repo.Fingerprint
	hash string
	gen  uint64
}

func newLiveHashes() *liveHashes {
	return &liveHashes{seed: maphash.MakeSeed(), byID: map[string]liveHash{}}
}

// hashes returns overlay.Hash of every live repo's overlay, in order.
func (c *liveHashes) hashes(live []chainguard.Repo) []string {
	c.gen++
	c.hashed, c.reused = 0, 0
	out := make([]string, len(live))
	for i, r := range live {
		key := r.ID
		if key == "" {
			key = "name:" + r.Name
		}
		fp, wire := r.Fingerprint, true
		if fp == 0 {
			fp, wire = fingerprint(c.seed, r.Overlay), false
		}
		if e, ok := c.byID[key]; ok && e.fp == fp && e.wire == wire {
			e.gen = c.gen
			c.byID[key] = e
			out[i] = e.hash
			c.reused++
			continue
		}
		h := overlay.Hash(r.Overlay)
		c.byID[key] = liveHash{fp: fp, wire: wire, hash: h, gen: c.gen}
		out[i] = h
		c.hashed++
	}
	if len(c.byID) > len(live) {
		for k, e := range c.byID {
			if e.gen != c.gen {
				delete(c.byID, k)
			}
		}
	}
	return out
}

// fingerprint hashes every field of o (overlay.WriteFields): slices in
// order, maps as a sum of their entries' hashes.
// TestFingerprintCoversEveryField fails when overlay.Overlay gains a field
// this does not cover.
func fingerprint(seed maphash.Seed, o overlay.Overlay) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	overlay.WriteFields(&fp{h: &h, seed: seed}, o)
	return h.Sum64()
}

// fp is the overlay.FieldWriter of fingerprint.
type fp struct {
	h    *maphash.Hash
	seed maphash.Seed
	buf  [8]byte
}

func (f *fp) WriteUint(n uint64) {
	binary.LittleEndian.PutUint64(f.buf[:], n)
	_, _ = f.h.Write(f.buf[:])
}

func (f *fp) WriteString(s string) {
	f.WriteUint(uint64(len(s)))
	_, _ = f.h.WriteString(s)
}

// WriteStringMap writes the sum of the entries' hashes, which does not
// depend on the order a decode built the map in.
func (f *fp) WriteStringMap(m map[string]string) {
	f.WriteUint(uint64(len(m)))
	var sum uint64
	var e maphash.Hash
	e.SetSeed(f.seed)
	var b [8]byte
	for k, v := range m {
		e.Reset()
		binary.LittleEndian.PutUint64(b[:], uint64(len(k)))
		_, _ = e.Write(b[:])
		_, _ = e.WriteString(k)
		_, _ = e.WriteString(v)
		sum += e.Sum64()
	}
	f.WriteUint(sum)
}
