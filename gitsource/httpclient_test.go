package gitsource

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// A server (or a proxy in front of it) that answers with a large error
// page costs the daemon at most maxErrorBody of it: the body is cut, not
// read whole into the error. Without the cut, go-git read all of a 300 MB
// 401 body into memory (1.9 GB RSS in the hardening test of the binary).
// Bytes are counted on the server's side: what it managed to write before
// the client closed, socket buffers included.
func TestLargeErrorBodyIsCut(t *testing.T) {
	const body = 48 << 20
	chunk := bytes.Repeat([]byte("E"), 64<<10)
	for _, tc := range []struct {
		status int
		want   error
	}{
		{http.StatusUnauthorized, transport.ErrAuthenticationRequired},
		{http.StatusNotFound, transport.ErrRepositoryNotFound},
		{http.StatusBadGateway, nil},
	} {
		var written atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			for range body / len(chunk) {
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}))
		s, err := New(Config{URL: srv.URL + "/r.git", CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Fetch(t.Context())
		srv.Close() // waits for the handler
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%d: Fetch error %v, want %v", tc.status, err, tc.want)
		}
		if n := written.Load(); n > body/2 {
			t.Errorf("%d: the server wrote %d of its %d-byte error body before the client closed", tc.status, n, body)
		}
		if len(err.Error()) > 1024 {
			t.Errorf("%d: the error is %d bytes", tc.status, len(err.Error()))
		}
	}
}

// Fetches reuse their HTTP connections: ten checks of an unchanged ref (an
// ls-remote each) open one connection, not ten that then sit idle for the
// transport's idle timeout (the 1,000-cycle soak had 160 such goroutines).
func TestHTTPConnectionsReused(t *testing.T) {
	up := newUpstream(t, seedFiles)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(backend.handler)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s, _ := newTestSource(t, Config{URL: srv.URL + "/upstream", Path: "ca-images-iac"})
	fetch(t, s)
	after := opened.Load()
	for range 10 {
		if _, res := fetch(t, s); res != Unchanged {
			t.Fatalf("Fetch: %q", res)
		}
	}
	if n := opened.Load() - after; n > 1 {
		t.Errorf("ten unchanged fetches opened %d connections, want at most 1", n)
	}
}
