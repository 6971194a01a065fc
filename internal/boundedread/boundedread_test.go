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
	for _, c := range []struct {
		n    int64
		want string
	}{{4, "0123"}, {10, "0123456789"}, {11, "0123456789"}} {
		got, err := boundedread.File(fsys, "a.yaml", c.n)
		if err != nil || string(got) != c.want {
			t.Errorf("File(a.yaml, %d) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
	if _, err := boundedread.File(fsys, "missing.yaml", 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
