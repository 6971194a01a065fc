package chainguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"sync"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// ListStats counts what ListRepos did with the repos it received, since Dial.
type ListStats struct {
	// Decoded counts the repos decoded and converted: new, or changed since
	// the previous ListRepos of the same organization.
	Decoded int64
	// Reused counts the repos whose encoding had not changed, whose
	// previous conversion was returned without decoding them again.
	Reused int64
	// Shared counts the decoded repos whose overlay was replaced by the
	// caller's equal one (ShareOverlays).
	Shared int64
}

// ListStats returns the counters of ListRepos; safe to call at any time.
func (c *Client) ListStats() ListStats {
	c.list.mu.Lock()
	defer c.list.mu.Unlock()
	return c.list.stats
}

// listCache keeps, per organization, the Repo each repo of the last
// ListRepos was converted to, with a fingerprint of its encoding, so that
// an unchanged repo (every repo, on most cycles) costs a walk over its bytes
// instead of a decode, a conversion and the garbage of both. Entries of
// repos the last list did not hold are dropped, so it holds one Repo per
// repo of the organization.
type listCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	gen   uint64
	orgs  map[string]map[string]*cachedRepo // org id -> repo id -> entry
	stats ListStats
}

type cachedRepo struct {
	fp   uint64
	gen  uint64 // the last list that held it
	repo Repo
}

func newListCache() *listCache {
	return &listCache{seed: maphash.MakeSeed(), orgs: map[string]map[string]*cachedRepo{}}
}

var (
	repoListItems = (&registryv1.RepoList{}).ProtoReflect().Descriptor().Fields().ByName("items").Number()
	repoDesc      = (&registryv1.Repo{}).ProtoReflect().Descriptor()
	repoID        = repoDesc.Fields().ByName("id").Number()
)

// repos converts an encoded registry v1 RepoList, reusing the conversions
// of the repos whose fingerprint did not change since the previous list of
// orgID. The overlay of a repo it decodes is replaced by what share returns
// for it, when that is the same value (ShareOverlays). The result is in the
// order of the list.
func (lc *listCache) repos(orgID string, list []byte, share func(string) (overlay.Overlay, bool)) ([]Repo, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.gen++
	cache := lc.orgs[orgID]
	if cache == nil {
		cache = map[string]*cachedRepo{}
		lc.orgs[orgID] = cache
	}
	out := make([]Repo, 0, len(cache))
	for b := list; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("decoding repo list: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num != repoListItems || typ != protowire.BytesType {
			// Not an item: nothing ListRepos reads.
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, fmt.Errorf("decoding repo list: %w", protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		item, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("decoding repo list: %w", protowire.ParseError(n))
		}
		b = b[n:]
		id, fp, ok := lc.fingerprint(item)
		e := cache[string(id)]
		if ok && e != nil && e.fp == fp && e.gen != lc.gen {
			lc.stats.Reused++
			e.gen = lc.gen
			out = append(out, e.repo)
			continue
		}
		var m registryv1.Repo
		if err := proto.Unmarshal(item, &m); err != nil {
			return nil, fmt.Errorf("decoding repo list: %w", err)
		}
		r := fromProto(&m)
		lc.stats.Decoded++
		if share != nil {
			if o, ok := share(r.Name); ok && reflect.DeepEqual(o, r.Overlay) {
				r.Overlay = o
				lc.stats.Shared++
			}
		}
		if ok {
			r.Fingerprint = fp
		}
		if ok && len(id) > 0 {
			cache[string(id)] = &cachedRepo{fp: fp, gen: lc.gen, repo: r}
		}
		out = append(out, r)
	}
	for id, e := range cache {
		if e.gen != lc.gen {
			delete(cache, id)
		}
	}
	return out, nil
}

// fingerprint returns the id of an encoded registry v1 Repo and a hash of
// its encoding that does not depend on the order of map entries (a Go
// server, the API included, marshals maps in random order, so the bytes of
// an unchanged repo with two environment variables differ from call to
// call). Everything else is hashed in the order it was sent, unknown fields
// included: a repo that a server encodes differently hashes differently and
// is decoded, which costs time, never correctness. ok is false when the
// encoding cannot be fingerprinted (it does not parse, or a map repeats a
// key, where the order decides which value counts); the repo is then
// decoded every time.
func (lc *listCache) fingerprint(item []byte) (id []byte, fp uint64, ok bool) {
	w := wireHash{seed: lc.seed}
	fp, err := w.message(repoDesc, item, 0)
	if err != nil {
		return nil, 0, false
	}
	return w.id, fp, true
}

// maxWireDepth bounds the recursion of wireHash over nested messages.
const maxWireDepth = 32

var errUnhashable = errors.New("encoding cannot be fingerprinted")

// wireHash hashes encoded messages by their descriptors.
type wireHash struct {
	seed maphash.Seed
	id   []byte // the top-level message's id field, when it is a Repo
}

// message hashes one encoded message of type md: its fields in order,
// except that the entries of each map field are combined order-independently
// (summed), and each map's sum is hashed at the end, in field order.
func (w *wireHash) message(md protoreflect.MessageDescriptor, b []byte, depth int) (uint64, error) {
	if depth > maxWireDepth {
		return 0, errUnhashable
	}
	var h maphash.Hash
	h.SetSeed(w.seed)
	var maps mapSums
	fields := md.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, errUnhashable
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, errUnhashable
		}
		val := b[:n]
		b = b[n:]
		fd := fields.ByNumber(num)
		if depth == 0 && md == repoDesc && num == repoID && typ == protowire.BytesType {
			w.id, _ = protowire.ConsumeBytes(val)
		}
		if fd == nil || fd.Kind() != protoreflect.MessageKind || typ != protowire.BytesType {
			// A scalar, a string, a packed list or an unknown field: its
			// bytes, in order.
			writeField(&h, num, typ, val)
			continue
		}
		v, _ := protowire.ConsumeBytes(val)
		if fd.IsMap() {
			entry, key, err := w.mapEntry(fd.Message(), v, depth+1)
			if err != nil {
				return 0, err
			}
			maps.add(num, entry, key)
			continue
		}
		sub, err := w.message(fd.Message(), v, depth+1)
		if err != nil {
			return 0, err
		}
		writeSum(&h, num, sub)
	}
	for i := range maps.n {
		m := maps.at(i)
		if m.dup {
			return 0, errUnhashable
		}
		writeSum(&h, m.num, m.sum)
	}
	return h.Sum64(), nil
}

// mapEntry hashes one encoded map entry (a message of a key and a value)
// and returns its key's bytes.
func (w *wireHash) mapEntry(md protoreflect.MessageDescriptor, b []byte, depth int) (uint64, []byte, error) {
	value := md.Fields().ByNumber(2)
	valueIsMessage := value != nil && value.Kind() == protoreflect.MessageKind
	var h maphash.Hash
	h.SetSeed(w.seed)
	var key []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, nil, errUnhashable
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, nil, errUnhashable
		}
		val := b[:n]
		b = b[n:]
		if num == 1 {
			key = val
		}
		if num == 2 && valueIsMessage && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(val)
			sub, err := w.message(value.Message(), v, depth+1)
			if err != nil {
				return 0, nil, err
			}
			writeSum(&h, num, sub)
			continue
		}
		writeField(&h, num, typ, val)
	}
	return h.Sum64(), key, nil
}

// mapSum is the order-independent hash of one map field's entries, with
// their keys, to notice a key sent twice (the first few inline).
type mapSum struct {
	num  protowire.Number
	sum  uint64
	n    int
	keys [8][]byte
	more [][]byte
	dup  bool
}

func (m *mapSum) add(entry uint64, key []byte) {
	m.sum += entry
	for _, k := range m.keys[:min(m.n, len(m.keys))] {
		m.dup = m.dup || bytes.Equal(k, key)
	}
	for _, k := range m.more {
		m.dup = m.dup || bytes.Equal(k, key)
	}
	if m.n < len(m.keys) {
		m.keys[m.n] = key
	} else {
		m.more = append(m.more, key)
	}
	m.n++
}

// mapSums are the map fields of one message: two inline (a custom overlay
// has environment and annotations), more after them.
type mapSums struct {
	inline [2]mapSum
	n      int
	more   []mapSum
}

func (s *mapSums) at(i int) *mapSum {
	if i < len(s.inline) {
		return &s.inline[i]
	}
	return &s.more[i-len(s.inline)]
}

func (s *mapSums) add(num protowire.Number, entry uint64, key []byte) {
	i := 0
	for i < s.n && s.at(i).num != num {
		i++
	}
	if i == s.n {
		if s.n >= len(s.inline) {
			s.more = append(s.more, mapSum{})
		}
		s.n++
		s.at(i).num = num
	}
	s.at(i).add(entry, key)
}

func writeField(h *maphash.Hash, num protowire.Number, typ protowire.Type, val []byte) {
	var buf [binary.MaxVarintLen64 * 2]byte
	b := protowire.AppendTag(buf[:0], num, typ)
	b = protowire.AppendVarint(b, uint64(len(val)))
	_, _ = h.Write(b)
	_, _ = h.Write(val)
}

// writeSum hashes a nested message's (or a map's) hash as field num.
func writeSum(h *maphash.Hash, num protowire.Number, sum uint64) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], sum)
	writeField(h, num, protowire.BytesType, buf[:])
}

// rawList is a reply kept encoded, in one buffer of grpc's pool:
// ListRepos decodes only what changed (decoding copies what it keeps), then
// frees it.
type rawList struct{ buf mem.Buffer }

func (r *rawList) bytes() []byte {
	if r.buf == nil {
		return nil
	}
	return r.buf.ReadOnlyData()
}

func (r *rawList) free() {
	if r.buf != nil {
		r.buf.Free()
		r.buf = nil
	}
}

// rawCodec is grpc's proto codec, except that a *rawList reply keeps its
// bytes. Its Name is empty so that a forced codec leaves the content-type
// what it is without one, application/grpc, exactly as the SDK's call sends.
type rawCodec struct{ proto encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{proto: encoding.GetCodecV2("proto")} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawList); ok {
		r.free()
		r.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (rawCodec) Name() string { return "" }
