package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// Trickle connects to addr, sends head (a request line, its headers and the
// start of a body that declares more) and then one more byte of body every
// 20ms, as a client too slow to finish its body does. The trickle stops and
// the connection closes when the test ends: register the server's Close
// before calling Trickle, so that the connection closes first.
func Trickle(t testing.TB, addr, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		conn.Close()
	})
	fmt.Fprint(conn, head)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return conn
}

// AnswerThenEOF reads the answer on conn and checks that it has status want
// and says it closes the connection, and that the server then closes it
// (waiting at most 20 seconds, a bound for the test only). name starts each
// error.
func AnswerThenEOF(t testing.TB, name string, conn net.Conn, want int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s: no answer: %v", name, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want || !resp.Close {
		t.Errorf("%s: status %d, close %v; want %d and the connection closed", name, resp.StatusCode, resp.Close, want)
	}
	// Closed: EOF, or a reset when the server closed with the client's
	// bytes still unread.
	if _, err := r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("%s: after the answer, read %v; want EOF or a reset (the server closed the connection)", name, err)
	}
}

// Status sends req with the default client and returns the answer's status
// code, its body read and closed.
func Status(t testing.TB, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
