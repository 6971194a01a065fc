package boundedread_test

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/ca-reconciler/ca-reconciler/internal/boundedread"
)

func TestFile(t *testing.T) {
	fsys := fstest.MapFS{"a.yaml": {Data: []byte("0123456789")}}
	// One byte past the limit is read: a file of limit+1 bytes or more is
	// cut there, and the caller sees it is over the limit.
	for _, c := range []struct {
		limit int64
		want  string
	}{{3, "0123"}, {9, "0123456789"}, {10, "0123456789"}} {
		got, err := boundedread.File(fsys, "a.yaml", c.limit)
		if err != nil || string(got) != c.want {
			t.Errorf("File(a.yaml, %d) = %q, %v; want %q", c.limit, got, err, c.want)
		}
	}
	if _, err := boundedread.File(fsys, "missing.yaml", 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
