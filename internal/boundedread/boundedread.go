// Package boundedread reads a file of an fs.FS without holding more than a
// bound of it: one byte past a limit is enough for a parser to report a
// file as too large, and a huge file costs no more than that.
package boundedread

import (
	"io"
	"io/fs"
)

// File reads at most n bytes of name.
func File(fsys fs.FS, name string, n int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}
