package gitsource

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The next Fetch releases what reading a snapshot's files cached in the
// reader's storage (decoded objects, pack indexes, open packs), and the
// snapshot reads the same afterwards; a Fetch after no reads releases
// nothing.
func TestFetchReleasesReadCaches(t *testing.T) {
	up := newUpstream(t, map[string]string{"ca-images-iac/a.yaml": "contents: {packages: [curl]}\n", "ca-images-iac/b.yaml": "{}\n"})
	s, _ := newTestSource(t, Config{URL: up.dir, Ref: "main", Path: "ca-images-iac"})
	snap, _ := fetch(t, s)
	want := files(snap)
	if diff := cmp.Diff(map[string]string{"a.yaml": "contents: {packages: [curl]}\n", "b.yaml": "{}\n"}, want); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	st := s.reader.st
	if !s.reader.used {
		t.Fatal("reading the files did not use the reader's storage")
	}
	if _, res := fetch(t, s); res != Unchanged {
		t.Fatalf("second Fetch: %s", res)
	}
	if s.reader.used || s.reader.st == st {
		t.Errorf("the second Fetch kept the storage the reads used (used=%v, same=%v)", s.reader.used, s.reader.st == st)
	}
	released := s.reader.st
	if _, res := fetch(t, s); res != Unchanged || s.reader.st != released {
		t.Errorf("a Fetch after no reads opened another storage (%s)", res)
	}
	if diff := cmp.Diff(want, files(snap)); diff != "" {
		t.Errorf("the snapshot after the release (-before +after):\n%s", diff)
	}
}
