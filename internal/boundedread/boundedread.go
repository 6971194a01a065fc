// Package boundedread reads a file of an fs.FS up to one byte past a limit:
// enough for a parser to report the file as too large. A streaming file
// system (os.DirFS) then reads no more than that; gitsource's tree reads a
// blob whole before it is cut, so there the bound is on what is kept.
package boundedread

import (
	"io"
	"io/fs"
)

// File reads at most limit+1 bytes of name.
func File(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
