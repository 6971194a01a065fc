package gitsource

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"go.uber.org/zap/zaptest/observer"
)

// gitHTTPBackend serves the repositories under root with git http-backend,
// counting upload-pack requests (fetches; ls-remote is a GET of info/refs).
type gitHTTPBackend struct {
	handler http.Handler
	posts   atomic.Int64
}

func newGitHTTPBackend(t *testing.T, root string) *gitHTTPBackend {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
		},
	}
	b := &gitHTTPBackend{}
	b.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b.posts.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	return b
}

// withBasicAuth demands user and password. On failure it echoes the whole
// request in its 401 body, as some proxies do: the request line, every header
// (Authorization: Basic base64(user:password) among them), the decoded
// credentials in several encodings. Tests prove Fetch masks it anyway.
func withBasicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL, r.Proto)
			_ = r.Header.Write(w)
			fmt.Fprintf(w, "\n%v\nbad credentials %s:%s (%s, %s)\n", r.Header, u, p, url.QueryEscape(p), url.PathEscape(p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// caBundle writes the test server's certificate as a CA bundle.
func caBundle(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, file, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	return file
}

// TestHTTPAnonymous fetches over plain http and https without credentials,
// checking that an unchanged ref costs no upload-pack request.
func TestHTTPAnonymous(t *testing.T) {
	up := newUpstream(t, seedFiles)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	plain := httptest.NewServer(backend.handler)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(backend.handler)
	defer tlsSrv.Close()

	for _, cfg := range []Config{
		{URL: plain.URL + "/upstream", Path: "ca-images-iac"},
		{URL: tlsSrv.URL + "/upstream", Path: "ca-images-iac", CABundleFile: caBundle(t, tlsSrv)},
	} {
		t.Run(cfg.URL[:strings.Index(cfg.URL, ":")], func(t *testing.T) {
			s, _ := newTestSource(t, cfg)
			snap, _ := fetch(t, s)
			if snap.Revision != up.head() || len(files(snap)) != 3 {
				t.Fatalf("snapshot %s with %d files, want %s with 3", snap.Revision, len(files(snap)), up.head())
			}
			posts := backend.posts.Load()
			if _, res := fetch(t, s); res != Unchanged {
				t.Errorf("second Fetch: %q", res)
			}
			if got := backend.posts.Load(); got != posts {
				t.Errorf("unchanged Fetch made %d upload-pack requests", got-posts)
			}
		})
	}

	// https with a certificate nobody vouches for.
	s, _ := newTestSource(t, Config{URL: tlsSrv.URL + "/upstream"})
	if err := fetchErr(t, s); !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

// TestHTTPBasicAuth serves over https with basic auth. The password file is
// read on every Fetch: a wrong password fails with a clear error that holds
// neither password, and fixing the file fixes the next Fetch.
func TestHTTPBasicAuth(t *testing.T) {
	const user, right, wrong = "robot", "right-horse-battery-staple", "wrong-correct-staple"
	up := newUpstream(t, seedFiles)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	srv := httptest.NewTLSServer(withBasicAuth(user, right, backend.handler))
	defer srv.Close()
	pwFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, pwFile, right+"\n")

	s, logs := newTestSource(t, Config{
		URL: srv.URL + "/upstream", Path: "ca-images-iac", CABundleFile: caBundle(t, srv),
		Auth: Auth{Username: user, PasswordFile: pwFile},
	})
	first, _ := fetch(t, s)

	writeFile(t, pwFile, wrong+"\n")
	err := fetchErr(t, s)
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("wrong password: %v, want ErrAuthenticationRequired", err)
	}
	want := "listing remote refs of " + srv.URL + "/upstream: authentication required"
	if err.Error() != want {
		t.Errorf("wrong password error\n%s\nwant\n%s", err, want)
	}

	writeFile(t, pwFile, right)
	next := up.commit("next", map[string]string{"ca-images-iac/next.yaml": "n\n"})
	snap, res := fetch(t, s)
	if res != Updated || snap.Revision != next || snap.Revision == first.Revision {
		t.Errorf("after fixing the password: %q %s, want %s", res, snap.Revision, next)
	}
	assertNoSecrets(t, logs, right, wrong)

	anon, _ := newTestSource(t, Config{URL: srv.URL + "/upstream", CABundleFile: caBundle(t, srv)})
	if err := fetchErr(t, anon); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("no credentials: %v, want ErrAuthenticationRequired", err)
	}
}

// assertNoSecrets fails when any log entry, message or field, contains one
// of the secrets.
func assertNoSecrets(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		text := e.Message
		for k, v := range e.ContextMap() {
			text += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("log entry contains secret %q: %s", secret, text)
			}
		}
	}
}

// TestHTTPFetchPhaseTimeout serves ls-remote but never answers upload-pack:
// both the clone and a later fetch into the cache give up at Timeout.
func TestHTTPFetchPhaseTimeout(t *testing.T) {
	up := newUpstream(t, seedFiles)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	var hang atomic.Bool
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && hang.Load() {
			// Read the request so the server notices the client leaving.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		backend.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(stop)

	s, _ := newTestSource(t, Config{URL: srv.URL + "/upstream", Timeout: 300 * time.Millisecond})
	hang.Store(true)
	assertTimesOut(t, s, "cloning refs/heads/main of "+srv.URL+"/upstream: timed out after 300ms")

	hang.Store(false)
	fetch(t, s)
	up.commit("next", map[string]string{"x": "x\n"})
	hang.Store(true)
	assertTimesOut(t, s, "fetching refs/heads/main from "+srv.URL+"/upstream: timed out after 300ms")
	if c := s.counts(); c.Clones != 2 {
		t.Errorf("counts %+v: a timed-out fetch should not fall back to a clone", c)
	}
}

// assertTimesOut calls Fetch and wants the timeout error want well before a
// generous bound.
func assertTimesOut(t *testing.T, s *Source, want string) {
	t.Helper()
	start := time.Now()
	_, _, err := s.Fetch(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatal("Fetch succeeded against a server that does not answer")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not a context.DeadlineExceeded", err)
	}
	if want != "" && err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	if took > 10*time.Second {
		t.Errorf("Fetch took %s with a 300ms timeout", took)
	}
}

// TestHTTPEchoedCredentials serves git http-backend behind a proxy that
// echoes the request in its 401 body, for credentials of every shape: long,
// short, with characters URL encoding changes, and a token under the default
// user. Go-git puts that body into its error. Fetch's error holds none of the
// credential's forms, and neither would the body itself after redaction.
func TestHTTPEchoedCredentials(t *testing.T) {
	up := newUpstream(t, seedFiles)
	backend := newGitHTTPBackend(t, filepath.Dir(up.dir))
	for _, tc := range []struct{ name, user, sent, accepted string }{
		{"long password", "robot", "wrong-correct-horse-battery", "right-horse-battery-staple"},
		{"short password", "robot", "Zq9!x", "right-horse-battery-staple"},
		{"special characters", "robot", "p@ss w/rd:é&x=1%", "right-horse-battery-staple"},
		{"token as password", "", "ghp_0123456789abcdefghijABCDEFGHIJ0123", "ghp_right"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sentUser := tc.user
			if sentUser == "" {
				sentUser = defaultUser
			}
			srv := httptest.NewServer(withBasicAuth(sentUser, tc.accepted, backend.handler))
			defer srv.Close()
			pwFile := filepath.Join(t.TempDir(), "password")
			writeFile(t, pwFile, tc.sent+"\n")
			s, logs := newTestSource(t, Config{URL: srv.URL + "/upstream", Auth: Auth{Username: tc.user, PasswordFile: pwFile}})

			forms := credentialForms(sentUser, tc.sent)
			// What go-git itself returns: the echoed body, every form in it.
			auth, secrets, err := s.transportAuth()
			if err != nil {
				t.Fatal(err)
			}
			_, raw := s.listRemote(t.Context(), auth)
			if raw == nil || !strings.Contains(raw.Error(), forms["base64 user:password"]) {
				t.Fatalf("the server did not echo the Authorization header: %v", raw)
			}
			if leaked := leakedForms(secrets.Error(raw).Error(), forms); len(leaked) > 0 {
				t.Errorf("redacting the raw error leaves %v:\n%s", leaked, secrets.Error(raw))
			}

			err = fetchErr(t, s)
			want := "listing remote refs of " + srv.URL + "/upstream: authentication required"
			if err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Errorf("error %v does not match ErrAuthenticationRequired", err)
			}
			if leaked := leakedForms(err.Error(), forms); len(leaked) > 0 {
				t.Errorf("Fetch's error holds %v", leaked)
			}
			for _, e := range logs.All() {
				text := e.Message + fmt.Sprint(e.ContextMap())
				if leaked := leakedForms(text, forms); len(leaked) > 0 {
					t.Errorf("log entry %q holds %v", text, leaked)
				}
			}
		})
	}
}

// credentialForms are the shapes a Basic credential takes on the wire and in
// an echo of it.
func credentialForms(user, password string) map[string]string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return map[string]string{
		"literal":              password,
		"query escaped":        url.QueryEscape(password),
		"path escaped":         url.PathEscape(password),
		"base64 user:password": b64(user + ":" + password),
		"user:password":        user + ":" + password,
	}
}

// leakedForms lists the names of the forms found in text.
func leakedForms(text string, forms map[string]string) []string {
	var out []string
	for name, form := range forms {
		if strings.Contains(text, form) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
