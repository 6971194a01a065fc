package gitsource

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// maxErrorBody is how much of the body of an HTTP answer that is not a
// success (a 401 page, a proxy's error page) is read. go-git reads such a
// body whole into the error it returns; the body never leaves the package
// (see cleanError), so a server or proxy answering with a large one (or an
// endless one) must not cost more than this.
const maxErrorBody = 64 << 10

// transportFor returns the go-git transport for an endpoint: for HTTP(S),
// the Source's own (newHTTPTransport), made once so that its connections
// are kept alive and reused from one fetch to the next; for other
// protocols, go-git's own. The endpoint's CaBundle must stay empty for
// HTTP(S): go-git would then want to reconfigure the transport itself.
func (s *Source) transportFor(ep *transport.Endpoint) (transport.Transport, error) {
	if ep.Protocol != "http" && ep.Protocol != "https" {
		return client.NewClient(ep)
	}
	s.httpOnce.Do(func() { s.http = s.newHTTPTransport() })
	return s.http, nil
}

// newHTTPTransport is go-git's HTTP client over a clone of
// http.DefaultTransport (its proxy settings from the environment kept),
// whose error answers are cut at maxErrorBody and which trusts the
// configured CA bundle as well as the system's roots.
func (s *Source) newHTTPTransport() transport.Transport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if len(s.cfg.caBundle) > 0 {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(s.cfg.caBundle)
		if base.TLSClientConfig == nil {
			base.TLSClientConfig = &tls.Config{}
		}
		base.TLSClientConfig.RootCAs = roots
	}
	return githttp.NewClient(&http.Client{Transport: errorBodyLimit{next: base}})
}

// errorBodyLimit cuts the body of every answer that is not a success at
// maxErrorBody.
type errorBodyLimit struct{ next http.RoundTripper }

func (l errorBodyLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || resp.StatusCode < http.StatusMultipleChoices {
		return resp, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxErrorBody), Closer: resp.Body}
	resp.ContentLength = -1
	return resp, nil
}

// limitedBody reads at most a limit of a body and closes the whole of it.
type limitedBody struct {
	io.Reader
	io.Closer
}
