package chainguard

import (
	"fmt"
	"reflect"
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func overlayWithMaps(i int) *registryv1.CustomOverlay {
	gid := uint32(1000 + i)
	return &registryv1.CustomOverlay{
		Contents:    &registryv1.ImageContents{Packages: []string{"curl", fmt.Sprintf("pkg-%d", i)}},
		Environment: map[string]string{"A": "1", "B": "2", "C": "3", "D": fmt.Sprint(i), "E": "5", "F": "6"},
		Annotations: map[string]string{"x": "1", "y": "2", "z": "3"},
		Accounts: &registryv1.ApkoConfig_Accounts{
			RunAs: "app",
			Users: []*registryv1.ApkoConfig_Accounts_User{{UserName: "app", Uid: 1000 + uint32(i), Gid: &gid}},
		},
	}
}

func repoList(n int) *registryv1.RepoList {
	list := &registryv1.RepoList{}
	for i := range n {
		r := &registryv1.Repo{
			Id:            fmt.Sprintf("org/repo%03d", i),
			Name:          fmt.Sprintf("repo-%03d", i),
			SyncConfig:    &registryv1.SyncConfig{Source: "cgr.dev/x/static", ApkoOverlay: "contents: {}"},
			CustomOverlay: overlayWithMaps(i),
			ActiveTags:    []string{"latest"},
			Readme:        "# readme",
		}
		if i%3 == 0 {
			// A field of a newer service, in the repo and in the overlay.
			r.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 50, protowire.BytesType), "new"))
			r.CustomOverlay.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 20, protowire.VarintType), 1))
		}
		list.Items = append(list.Items, r)
	}
	return list
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m) // maps in random order, as a server sends them
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAll is what ListRepos did before the cache: decode, convert.
func decodeAll(t *testing.T, b []byte) []Repo {
	t.Helper()
	var list registryv1.RepoList
	if err := proto.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	var out []Repo
	for _, r := range list.GetItems() {
		out = append(out, fromProto(r))
	}
	return out
}

// The cache returns exactly what decoding every repo returns, decodes a
// repo again only when it changed, whatever order its maps arrive in, and
// forgets repos that are gone.
func TestListCache(t *testing.T) {
	lc := newListCache()
	list := repoList(40)
	check := func(step string, wantDecoded, wantReused int64) {
		t.Helper()
		before := lc.stats
		b := marshal(t, list)
		want := decodeAll(t, b)
		got, err := lc.repos("org", b, nil)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		clear(b) // the buffer goes back to grpc's pool: nothing may alias it
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Repo{}, "Fingerprint")); diff != "" {
			t.Errorf("%s: repos differ from a full decode (-want +got):\n%s", step, diff)
		}
		for i, r := range got {
			if r.Fingerprint == 0 {
				t.Errorf("%s: repo %d has no fingerprint", step, i)
			}
			if i > 0 && r.Fingerprint == got[i-1].Fingerprint {
				t.Errorf("%s: repos %d and %d have one fingerprint", step, i-1, i)
			}
		}
		if d, r := lc.stats.Decoded-before.Decoded, lc.stats.Reused-before.Reused; d != wantDecoded || r != wantReused {
			t.Errorf("%s: decoded %d, reused %d; want %d and %d", step, d, r, wantDecoded, wantReused)
		}
		if len(lc.orgs["org"]) != len(list.Items) {
			t.Errorf("%s: the cache holds %d repos, want %d", step, len(lc.orgs["org"]), len(list.Items))
		}
	}
	check("first list", 40, 0)
	for i := range 20 {
		check(fmt.Sprintf("unchanged list %d", i), 0, 40)
	}
	list.Items[5].CustomOverlay.Environment["A"] = "changed"
	check("one map value changed", 1, 39)
	list.Items[6].ActiveTags = append(list.Items[6].ActiveTags, "v2")
	check("a repo's tags changed", 1, 39)
	list.Items[7].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 51, protowire.VarintType), 7))
	check("an unknown field appeared", 1, 39)
	delete(list.Items[8].CustomOverlay.Annotations, "x")
	list.Items[9].CustomOverlay.Annotations["w"] = "0"
	check("map entries removed and added", 2, 38)
	list.Items = append(list.Items[:10], list.Items[11:]...)
	check("a repo is gone", 0, 39)
	if _, err := lc.repos("other-org", marshal(t, list), nil); err != nil {
		t.Fatal(err)
	}
	if len(lc.orgs["org"]) != 39 || len(lc.orgs["other-org"]) != 39 {
		t.Errorf("each organization has its own entries: %d and %d, want 39 and 39", len(lc.orgs["org"]), len(lc.orgs["other-org"]))
	}
}

func TestListCacheRefusesBadBytes(t *testing.T) {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, 100) // an item longer than the message
	if _, err := newListCache().repos("org", b, nil); err == nil || err.Error() != "decoding repo list: unexpected EOF" {
		t.Errorf("repos(truncated) error %v", err)
	}
}

// entry encodes one environment (field 3 of CustomOverlay) map entry.
func entry(k, v string) []byte {
	e := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), k)
	e = protowire.AppendString(protowire.AppendTag(e, 2, protowire.BytesType), v)
	return protowire.AppendBytes(protowire.AppendTag(nil, envField, protowire.BytesType), e)
}

var envField = (&registryv1.CustomOverlay{}).ProtoReflect().Descriptor().Fields().ByName("environment").Number()

func TestWireHash(t *testing.T) {
	overlayDesc := (&registryv1.CustomOverlay{}).ProtoReflect().Descriptor()
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	w := wireHash{seed: newListCache().seed}
	hash := func(b []byte) (uint64, error) { return w.message(overlayDesc, b, 0) }
	ab, err1 := hash(cat(entry("A", "1"), entry("B", "2")))
	ba, err2 := hash(cat(entry("B", "2"), entry("A", "1")))
	if err1 != nil || err2 != nil || ab != ba {
		t.Errorf("map entries in another order hash differently: %x, %x (%v, %v)", ab, ba, err1, err2)
	}
	for name, b := range map[string][]byte{
		"another value":       cat(entry("A", "1"), entry("B", "3")),
		"value under key":     cat(entry("A", "2"), entry("B", "1")),
		"one entry fewer":     entry("A", "1"),
		"an unknown field":    cat(entry("A", "1"), entry("B", "2"), protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)),
		"the entries swapped": cat(entry("A", "B"), entry("1", "2")),
	} {
		h, err := hash(b)
		if err != nil || h == ab {
			t.Errorf("%s: hash %x, error %v; want a hash other than %x", name, h, err, ab)
		}
	}
	// A key sent twice: the last value wins, so the order matters and the
	// encoding is not fingerprinted (the repo is always decoded).
	if _, err := hash(cat(entry("A", "1"), entry("A", "2"))); err != errUnhashable {
		t.Errorf("duplicate key: error %v, want %v", err, errUnhashable)
	}
	if _, err := hash([]byte{0xff}); err != errUnhashable {
		t.Errorf("garbage: error %v, want %v", err, errUnhashable)
	}
}

// The fingerprint reads the repo's id on the way.
func TestFingerprintID(t *testing.T) {
	lc := newListCache()
	r := repoList(1).Items[0]
	id, _, ok := lc.fingerprint(marshal(t, r))
	if !ok || string(id) != r.GetId() {
		t.Errorf("fingerprint: id %q, ok %v; want %q", id, ok, r.GetId())
	}
	var _ protoreflect.MessageDescriptor = repoDesc
}

func BenchmarkListRepos(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		list := repoList(n)
		raw, err := proto.Marshal(list)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("decode-all/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var l registryv1.RepoList
				if err := proto.Unmarshal(raw, &l); err != nil {
					b.Fatal(err)
				}
				for _, r := range l.GetItems() {
					_ = fromProto(r)
				}
			}
		})
		b.Run(fmt.Sprintf("unchanged/%d", n), func(b *testing.B) {
			lc := newListCache()
			if _, err := lc.repos("org", raw, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lc.repos("org", raw, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A decoded repo keeps the caller's overlay in place of its own when the
// two are the same value, and only then: the caller's maps are then the
// ones returned (held once), a different overlay is never substituted, and
// a repo reused from the cache is not offered again.
func TestListCacheSharesEqualOverlays(t *testing.T) {
	lc := newListCache()
	list := repoList(4)
	held := map[string]overlay.Overlay{}
	for _, r := range decodeAll(t, marshal(t, list)) {
		held[r.Name] = r.Overlay // equal to what the list decodes to, not the same maps
	}
	changed := held["repo-001"]
	changed.Environment = map[string]string{"A": "other"}
	held["repo-001"] = changed
	delete(held, "repo-002")
	var asked []string
	share := func(name string) (overlay.Overlay, bool) {
		asked = append(asked, name)
		o, ok := held[name]
		return o, ok
	}
	got, err := lc.repos("org", marshal(t, list), share)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	for _, r := range got {
		want := r.Name == "repo-000" || r.Name == "repo-003"
		if s := same(r.Overlay.Environment, held[r.Name].Environment); s != want {
			t.Errorf("%s: holds the caller's environment map: %v, want %v", r.Name, s, want)
		}
	}
	if got[1].Overlay.Environment["A"] != "1" {
		t.Errorf("repo-001 took the caller's different overlay: %v", got[1].Overlay.Environment)
	}
	if lc.stats.Shared != 2 || len(asked) != 4 {
		t.Errorf("shared %d of %d asked, want 2 of 4", lc.stats.Shared, len(asked))
	}
	asked = nil
	if _, err := lc.repos("org", marshal(t, list), share); err != nil {
		t.Fatal(err)
	}
	if lc.stats.Shared != 2 || len(asked) != 0 {
		t.Errorf("an unchanged list: shared %d in all, %d asked; want 2 and 0", lc.stats.Shared, len(asked))
	}
}
