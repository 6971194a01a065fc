package metrics_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ca-reconciler/ca-reconciler/metrics"
)

// listen serves a registry and a slow-reading hook route with limits.
func listen(t *testing.T, l metrics.Limits) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics.New(reg, "v1")
	srv, err := metrics.Listen(metrics.ServerConfig{
		Addr:     "127.0.0.1:0",
		Gatherer: reg,
		Limits:   l,
		Handlers: map[string]http.Handler{"POST /hooks/generic": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, "unreadable body", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return srv.Addr()
}

// A client that sends a hook's body one byte at a time is cut off at the
// read timeout, and so is one that never finishes its headers: the
// connection is closed by the server.
func TestSlowClientsAreCutOff(t *testing.T) {
	addr := listen(t, metrics.Limits{ReadHeader: 100 * time.Millisecond, Read: 300 * time.Millisecond})
	for name, start := range map[string]string{
		"slow body":    "POST /hooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		"slow headers": "POST /hooks/generic HTTP/1.1\r\nHost: x\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, start); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, _ = io.Copy(io.Discard, c) // returns when the server closes
		}()
		// Keep sending a byte now and then, as a slow-loris client does,
		// for far longer than the limits.
		cut := false
		for i := 0; i < 100 && !cut; i++ {
			select {
			case <-closed:
				cut = true
			case <-time.After(50 * time.Millisecond):
				_, _ = c.Write([]byte("x"))
			}
		}
		c.Close()
		if !cut {
			t.Errorf("%s: the connection was still open after 5s", name)
		}
	}
}

// At most MaxConns connections are served; one more is accepted when one
// closes.
func TestConnectionCap(t *testing.T) {
	addr := listen(t, metrics.Limits{MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A request served to prove the connection is accepted; the
		// connection is then kept alive.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("held connection: %v %v", resp, err)
		}
		held = append(held, c)
	}
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- strings.TrimSpace(string(b))
	}()
	select {
	case got := <-done:
		t.Fatalf("a third connection was served while two were held: %q", got)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	if got := <-done; got != "ok" {
		t.Errorf("third request after a connection closed: %q", got)
	}
	held[1].Close()
}

func TestDefaultLimits(t *testing.T) {
	l := metrics.DefaultLimits()
	if l.ReadHeader <= 0 || l.Read < l.ReadHeader || l.Write <= 0 || l.Idle <= 0 || l.MaxConns <= 0 || l.MaxHeaderBytes <= 0 {
		t.Errorf("default limits %+v: every limit must be set, and the read timeout cover the header timeout", l)
	}
}
