package reconciler

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// fill sets every leaf of v (a pointer) to a value derived from n, walking
// structs, slices (one element), maps (one entry) and pointers.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", *n))
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(uint64(*n))
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), n)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	default:
		panic(fmt.Sprintf("fill: unhandled kind %s (%s): teach fill and fingerprint about it", v.Kind(), v.Type()))
	}
}

// leaves calls f with a copy of o in which one leaf was changed, once per
// leaf.
func leaves(o overlay.Overlay, f func(path string, changed overlay.Overlay)) {
	n, where := 0, ""
	counted := deepCopy(o)
	walkSet(reflect.ValueOf(&counted).Elem(), "", &n, -1, &where) // counts the leaves
	for i := range n {
		c := deepCopy(o)
		k := 0
		walkSet(reflect.ValueOf(&c).Elem(), "", &k, i, &where)
		f(where, c)
	}
}

// walkSet changes the target-th leaf of v in place (rebuilding map entries,
// which cannot be set in place).
func walkSet(v reflect.Value, path string, k *int, target int, where *string) {
	switch v.Kind() {
	case reflect.String:
		if *k == target {
			v.SetString(v.String() + "x")
			*where = path
		}
		*k++
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		if *k == target {
			v.SetUint(v.Uint() + 1000)
			*where = path
		}
		*k++
	case reflect.Struct:
		for i := range v.NumField() {
			walkSet(v.Field(i), path+"."+v.Type().Field(i).Name, k, target, where)
		}
	case reflect.Slice:
		walkSet(v.Index(0), path+"[0]", k, target, where)
	case reflect.Map:
		key := v.MapKeys()[0]
		val := reflect.New(v.Type().Elem()).Elem()
		val.Set(v.MapIndex(key))
		walkSet(val, path+"[v]", k, target, where)
		nk := reflect.New(v.Type().Key()).Elem()
		nk.Set(key)
		walkSet(nk, path+"[k]", k, target, where)
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(nk, val)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		walkSet(p.Elem(), path+"*", k, target, where)
		v.Set(p)
	}
}

func deepCopy(o overlay.Overlay) overlay.Overlay {
	var c overlay.Overlay
	copyValue(reflect.ValueOf(&c).Elem(), reflect.ValueOf(o))
	return c
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			copyValue(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMap(src.Type())
		for _, k := range src.MapKeys() {
			m.SetMapIndex(k, src.MapIndex(k))
		}
		dst.Set(m)
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	default:
		dst.Set(src)
	}
}

// TestFingerprintCoversEveryField changes every leaf of a fully set
// overlay, one at a time, and expects a different fingerprint: a field
// added to overlay.Overlay that fingerprint ignores makes it fail, before
// an idle cycle could reuse a stale hash.
func TestFingerprintCoversEveryField(t *testing.T) {
	var full overlay.Overlay
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	seed := maphash.MakeSeed()
	base := fingerprint(seed, full)
	if again := fingerprint(seed, deepCopy(full)); again != base {
		t.Fatalf("a copy has another fingerprint")
	}
	count := 0
	leaves(full, func(path string, changed overlay.Overlay) {
		count++
		if fingerprint(seed, changed) == base {
			t.Errorf("changing %s keeps the fingerprint", path)
		}
	})
	if count < 15 {
		t.Errorf("only %d leaves changed; the walk is broken", count)
	}
	// A value moved from one field to another changes it too.
	a := overlay.Overlay{Packages: []string{"curl"}}
	b := overlay.Overlay{RuntimeRepositories: []string{"curl"}}
	if fingerprint(seed, a) == fingerprint(seed, b) {
		t.Errorf("packages and runtime repositories are not told apart")
	}
	c := overlay.Overlay{Environment: map[string]string{"ab": "c"}}
	d := overlay.Overlay{Environment: map[string]string{"a": "bc"}}
	if fingerprint(seed, c) == fingerprint(seed, d) {
		t.Errorf("map keys and values are not told apart")
	}
}

// Maps compare by content: the same environment built in another order
// (as every decode of a Go server's random map order gives) has the same
// fingerprint.
func TestFingerprintIgnoresMapOrder(t *testing.T) {
	seed := maphash.MakeSeed()
	a := overlay.Overlay{Environment: map[string]string{}}
	b := overlay.Overlay{Environment: map[string]string{}}
	for i := range 50 {
		a.Environment[fmt.Sprint("K", i)] = fmt.Sprint(i)
		b.Environment[fmt.Sprint("K", 49-i)] = fmt.Sprint(49 - i)
	}
	if fingerprint(seed, a) != fingerprint(seed, b) {
		t.Errorf("equal maps have different fingerprints")
	}
}

// An idle cycle hashes no overlay; a changed one is hashed again; repos
// that went away are forgotten.
func TestLiveHashesReuse(t *testing.T) {
	live := make([]chainguard.Repo, 100)
	for i := range live {
		live[i] = chainguard.Repo{ID: fmt.Sprintf("org/%d", i), Name: fmt.Sprintf("r%03d", i),
			Overlay: overlay.Overlay{Packages: []string{"curl"}, Environment: map[string]string{"N": fmt.Sprint(i)}}}
	}
	c := newLiveHashes()
	first := c.hashes(live)
	if c.hashed != 100 || c.reused != 0 {
		t.Errorf("first call: hashed %d reused %d", c.hashed, c.reused)
	}
	for i, h := range first {
		if h != overlay.Hash(live[i].Overlay) {
			t.Fatalf("hash %d wrong", i)
		}
	}
	again := c.hashes(live)
	if c.hashed != 0 || c.reused != 100 || !reflect.DeepEqual(first, again) {
		t.Errorf("idle call: hashed %d reused %d", c.hashed, c.reused)
	}
	live[7].Overlay = overlay.Overlay{Packages: []string{"jq"}}
	live = live[:50]
	got := c.hashes(live)
	if c.hashed != 1 || c.reused != 49 || got[7] != overlay.Hash(live[7].Overlay) {
		t.Errorf("after one change: hashed %d reused %d", c.hashed, c.reused)
	}
	if len(c.byID) != 50 {
		t.Errorf("%d ids remembered, want 50", len(c.byID))
	}
}

// A Registry's fingerprint of the encoding (chainguard.Repo.Fingerprint)
// stands for the overlay's: equal ones reuse the hash without looking at the
// overlay, a new one hashes again, and one of the other kind is never taken
// for it.
func TestLiveHashesWireFingerprint(t *testing.T) {
	a := overlay.Overlay{Packages: []string{"curl"}}
	b := overlay.Overlay{Packages: []string{"jq"}}
	c := newLiveHashes()
	for _, step := range []struct {
		name           string
		repo           chainguard.Repo
		hashed, reused int
		want           overlay.Overlay
	}{
		{"first sight", chainguard.Repo{ID: "org/1", Overlay: a, Fingerprint: 42}, 1, 0, a},
		{"same fingerprint", chainguard.Repo{ID: "org/1", Overlay: a, Fingerprint: 42}, 0, 1, a},
		{"another fingerprint", chainguard.Repo{ID: "org/1", Overlay: b, Fingerprint: 43}, 1, 0, b},
		{"no fingerprint: the overlay's", chainguard.Repo{ID: "org/1", Overlay: b}, 1, 0, b},
		{"the overlay's again", chainguard.Repo{ID: "org/1", Overlay: b}, 0, 1, b},
		{"a wire fingerprint equal to the overlay's", chainguard.Repo{ID: "org/1", Overlay: a, Fingerprint: fingerprint(c.seed, b)}, 1, 0, a},
	} {
		got := c.hashes([]chainguard.Repo{step.repo})
		if c.hashed != step.hashed || c.reused != step.reused || got[0] != overlay.Hash(step.want) {
			t.Errorf("%s: hashed %d reused %d, hash %s; want %d, %d, %s", step.name, c.hashed, c.reused, got[0], step.hashed, step.reused, overlay.Hash(step.want))
		}
	}
}
