package emulator

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"time"
)

// The emulator serves gRPC and plain HTTP (the events issuer's discovery
// document and JWKS) on one address, as the platform serves its issuer at
// its URL: each connection is routed by its first bytes. A gRPC client
// opens with the HTTP/2 preface ("PRI * HTTP/2.0"), an HTTP/1.1 client with
// its method.

// sniffTimeout bounds how long a new connection may stay silent before it
// is dropped.
const sniffTimeout = 10 * time.Second

// split divides one listener into a gRPC listener and an HTTP/1 listener.
// Closing either closes the real listener; the accept loop then ends, and
// done is closed once every connection it was routing is handed on or
// dropped.
type split struct {
	real       net.Listener
	grpc, http *chanListener
	once       sync.Once
	quit       chan struct{}  // closed by close
	done       chan struct{}  // closed when the accept loop has ended
	wg         sync.WaitGroup // routing goroutines
}

func newSplit(l net.Listener) *split {
	sp := &split{real: l, quit: make(chan struct{}), done: make(chan struct{})}
	sp.grpc = &chanListener{sp: sp, conns: make(chan net.Conn)}
	sp.http = &chanListener{sp: sp, conns: make(chan net.Conn)}
	go sp.accept()
	return sp
}

func (sp *split) accept() {
	defer close(sp.done)
	for {
		c, err := sp.real.Accept()
		if err != nil {
			sp.close()
			sp.wg.Wait()
			return
		}
		sp.wg.Add(1)
		go sp.route(c)
	}
}

// route peeks at a connection's first bytes and hands it on.
func (sp *split) route(c net.Conn) {
	defer sp.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	head, err := br.Peek(3)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	to := sp.http
	if bytes.Equal(head, []byte("PRI")) {
		to = sp.grpc
	}
	select {
	case to.conns <- &peekedConn{Conn: c, r: br}:
	case <-sp.quit:
		_ = c.Close()
	}
}

func (sp *split) close() {
	sp.once.Do(func() {
		close(sp.quit)
		_ = sp.real.Close()
	})
}

// chanListener is one side of a split.
type chanListener struct {
	sp    *split
	conns chan net.Conn
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.sp.quit:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.sp.close()
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.sp.real.Addr() }

// peekedConn reads first what was peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
