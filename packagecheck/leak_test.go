package packagecheck

import (
	"runtime"
	"testing"
	"time"

	"chainguard.dev/apko/pkg/apk/apk"
)

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Reading the index again and again keeps one generation in apko's caches:
// the heap after 20 reads of 5,000 packages is what it was after 2. With
// in-memory indexes (the other way apko offers) every read stays: this test
// measures both, so the reason for the files stays checked.
func TestIndexRereadsDoNotAccumulate(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap over 40 index builds")
	}
	lists := benchCatalog(5000)
	resolveOnce := func(idx apk.NamedIndex) {
		r := apk.NewPkgResolver(t.Context(), []apk.NamedIndex{idx})
		if _, _, err := r.GetPackagesWithDependencies(t.Context(), []string{"pkg-4999"}, map[string][]apk.NamedIndex{"x86_64": {idx}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	var files []uint64
	for gen := int64(1); gen <= 20; gen++ {
		ix, err := indexFiles(t.Context(), dir, gen, lists, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		resolveOnce(ix.byArch["x86_64"])
		files = append(files, heapAfterGC())
	}
	var memory []uint64
	for range 20 {
		pkgs := make([]*apk.Package, 0, len(lists["x86_64"].Packages))
		for _, p := range lists["x86_64"].Packages {
			pkgs = append(pkgs, &apk.Package{Name: p.Name, Version: p.Version, Arch: "x86_64", Dependencies: p.Depends, Provides: p.Provides})
		}
		repo := &apk.Repository{URI: "https://example.com/" + t.Name()}
		resolveOnce(apk.NewNamedRepositoryWithIndex("", repo.WithIndex(&apk.APKIndex{Packages: pkgs})))
		memory = append(memory, heapAfterGC())
	}
	grow := func(h []uint64) int64 { return int64(h[len(h)-1]) - int64(h[1]) }
	t.Logf("heap growth over 18 more reads: files %d KiB, in-memory indexes %d KiB", grow(files)/1024, grow(memory)/1024)
	if grow(files) > 8<<20 {
		t.Errorf("18 more index reads grew the heap by %d KiB; want one generation kept", grow(files)/1024)
	}
	if grow(memory) < 4*grow(files)+(8<<20) {
		t.Logf("in-memory indexes no longer accumulate (apko changed?): files %d, memory %d", grow(files), grow(memory))
	}
}
