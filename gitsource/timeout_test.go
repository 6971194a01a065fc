package gitsource

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// blackhole is a TCP server on loopback that accepts connections and never
// says a word.
type blackhole struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) addr() string { return b.l.Addr().String() }

// close stops listening and hangs up on every connection.
func (b *blackhole) close() {
	b.l.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

// TestTimeoutHTTP: a server that never answers makes Fetch give up at
// Timeout, every time; cancelling the caller's context stops it too.
func TestTimeoutHTTP(t *testing.T) {
	b := newBlackhole(t)
	url := "http://" + b.addr() + "/repo.git"
	s, _ := newTestSource(t, Config{URL: url, Timeout: 300 * time.Millisecond})
	for range 2 {
		assertTimesOut(t, s, "listing remote refs of "+url+": timed out after 300ms")
	}

	patient, _ := newTestSource(t, Config{URL: url, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := patient.Fetch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("caller's deadline: %v after %s", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, _, err := patient.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}
}

// TestTimeoutSSH: go-git's SSH transport ignores the context while it
// handshakes, so against a silent server the operation is left running. Fetch
// still returns at Timeout; the next Fetch says an operation is still running;
// once the server hangs up, the Source works again.
func TestTimeoutSSH(t *testing.T) {
	b := newBlackhole(t)
	key := newSSHKey(t, t.TempDir(), "id", "")
	url := "ssh://git@" + b.addr() + "/repo.git"
	s, logs := newTestSource(t, Config{URL: url, Timeout: 300 * time.Millisecond,
		Auth: Auth{SSHKeyFile: key.file, InsecureSkipHostKeyCheck: true}})

	assertTimesOut(t, s, "listing remote refs of "+url+": timed out after 300ms")
	if !hasLog(logs, "network operation ignored its deadline; leaving it to end in the background") {
		t.Fatal("the handshake stopped at its deadline after all; this test no longer covers stragglers")
	}
	assertTimesOut(t, s, "waiting for another fetch of "+url+": an earlier operation is still running past its deadline: timed out after 300ms")

	b.close()
	deadline := time.Now().Add(10 * time.Second)
	for !hasLog(logs, "network operation left in the background has ended") {
		if time.Now().After(deadline) {
			t.Fatal("the straggling handshake did not end after the server hung up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := fetchErr(t, s)
	if errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "listing remote refs of "+url+": ") {
		t.Errorf("after the server hung up: %v, want a prompt connection error", err)
	}
	// Warned on each of the two Fetches that got to the network.
	if n := logs.FilterMessage(insecureWarning).Len(); n != 2 {
		t.Errorf("%d warnings about the skipped host key check, want 2", n)
	}
}
