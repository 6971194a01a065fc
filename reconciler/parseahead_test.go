package reconciler

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// Many changed files are parsed on several goroutines, each read once, with
// the results a parse of each file alone gives; a file that cannot be read
// still fails the mapping, naming it.
func TestParseAhead(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	files := fstest.MapFS{}
	want := map[string]parsed{}
	for i := range 60 {
		name := fmt.Sprintf("r%03d.yaml", i)
		src := fmt.Sprintf("contents:\n  packages: [curl, p%d]\nenvironment:\n  N: %q\n", i, fmt.Sprint(i))
		if i%7 == 0 {
			src = fmt.Sprintf("entrypoint: {command: x%d}\n", i) // invalid: not a field of the format
		}
		files[name] = &fstest.MapFile{Data: []byte(src)}
		want["f/"+name] = parse("f/"+name, []byte(src))
	}
	files["r001.yml"] = &fstest.MapFile{Data: []byte("{}\n")} // a conflict with r001.yaml
	delete(want, "f/r001.yaml")

	fsys := &countingFS{MapFS: files}
	var cache parseCache
	d := mapFiles("f", fsys, &cache)
	if d.Err != nil || d.Parsed != 59 {
		t.Fatalf("mapping: err %v, parsed %d, want 59", d.Err, d.Parsed)
	}
	for name, n := range fsys.takeReads() {
		if n != 1 {
			t.Errorf("%s read %d times", name, n)
		}
	}
	got := map[string]parsed{}
	for _, r := range d.Repos {
		if !strings.HasPrefix(r.Hash, "conflict:") {
			got[r.File] = parsed{overlay: r.Overlay, hash: r.Hash, err: r.Err, warnings: r.Warnings, packagePos: r.PackagePositions}
		}
	}
	errText := cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(parsed{}), errText); diff != "" {
		t.Errorf("parsed in parallel (-alone +parallel):\n%s", diff)
	}
	if c := d.Repos["r001"]; c.Err == nil || c.Hash != "conflict:f/r001.yaml,f/r001.yml" {
		t.Errorf("conflict: %+v", c)
	}

	broken := &countingFS{MapFS: files, fail: "r042.yaml"}
	if d := mapFiles("f", broken, nil); fmt.Sprint(d.Err) != "reading f/r042.yaml: open r042.yaml: blob missing from the cache" {
		t.Errorf("unreadable file: err %v", d.Err)
	}
}
