// Package bytecount counts the bytes an HTTP handler writes: the Git
// server's responses, in the benchmark and in gitsource's fetch-size test.
package bytecount

import (
	"net/http"
	"sync/atomic"
)

// Writer is an http.ResponseWriter that adds the bytes of each Write to
// N.
type Writer struct {
	http.ResponseWriter
	N *atomic.Int64
}

// Write writes p to the ResponseWriter and counts the bytes written.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.N.Add(int64(n))
	return n, err
}
