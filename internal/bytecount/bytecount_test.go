package bytecount_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/internal/bytecount"
)

func TestWriterCountsTheBody(t *testing.T) {
	var n atomic.Int64
	rec := httptest.NewRecorder()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello, ")
		_, _ = io.WriteString(w, "world")
	})
	h.ServeHTTP(&bytecount.Writer{ResponseWriter: rec, N: &n}, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := n.Load(); got != 12 {
		t.Errorf("counted %d bytes, want 12", got)
	}
	if rec.Body.String() != "hello, world" || rec.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("the response is %q with %v", rec.Body.String(), rec.Header())
	}
}
