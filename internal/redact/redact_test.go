package redact_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

const (
	user     = "robot"
	password = "p@ss w/rd:correct-horse" // long, with characters URL encoding changes
	short    = "main"                    // shorter than MinSecretLen and a common word
)

func b64(s string) string    { return base64.StdEncoding.EncodeToString([]byte(s)) }
func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// stringCase is what a redacting String must make of in.
type stringCase struct{ name, in, want string }

// checkStrings runs each case as a subtest: str(in) must be want.
func checkStrings(t *testing.T, str func(string) string, cases []stringCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := str(tc.in); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedactorForms removes a known secret in every form it can take.
func TestRedactorForms(t *testing.T) {
	r := redact.New(password).WithBasicAuth(user, password)
	checkStrings(t, r.String, []stringCase{
		{"literal", "server said " + password + " twice: " + password, "server said REDACTED twice: REDACTED"},
		{"query escaped", "q=" + url.QueryEscape(password), "q=REDACTED"},
		{"path escaped", "/x/" + url.PathEscape(password) + "/y", "/x/REDACTED/y"},
		{"lower-case hex", "q=" + strings.ToLower(url.QueryEscape(password)), "q=REDACTED"},
		{"base64 user:password", "got " + b64(user+":"+password) + " from you", "got REDACTED from you"},
		{"base64 :password", "got " + b64(":"+password), "got REDACTED"},
		{"base64 token:", "got " + b64(password+":"), "got REDACTED"},
		{"base64url unpadded", "got " + b64url(user+":"+password), "got REDACTED"},
		{"base64 of the secret", "got " + b64(password), "got REDACTED"},
		{"base64 of a document holding it", "got " + b64(`{"password":"`+password+`"}`), "got REDACTED"},
		{"user:password", "bad credentials " + user + ":" + password, "bad credentials robot:REDACTED"},
		{"nothing secret", "fetching refs/heads/main: EOF", "fetching refs/heads/main: EOF"},
	})
}

// TestShortSecret: a short secret is removed in credential positions only,
// never as a word of the message.
func TestShortSecret(t *testing.T) {
	r := redact.New(short).WithBasicAuth(user, short)
	checkStrings(t, r.String, []stringCase{
		{"ordinary word", "fetching refs/heads/main of the main repo", "fetching refs/heads/main of the main repo"},
		{"after its user", "bad credentials robot:main", "bad credentials robot:REDACTED"},
		{"base64 user:pw", "got " + b64("robot:main"), "got REDACTED"},
		{"base64 other user", "got " + b64("someone:main"), "got REDACTED"},
		{"base64 token:", "got " + b64("main:"), "got REDACTED"},
		{"base64 exactly", "got " + b64("main"), "got REDACTED"},
		{"base64 of other text", "got " + b64("domain:x"), "got " + b64("domain:x")},
		{"URL user-info", "https://robot:main@host/r", "https://robot:REDACTED@host/r"},
		{"header", "Authorization: Basic " + b64("robot:main"), "Authorization: Basic REDACTED"},
	})
	special := redact.New("a!b c")
	checkStrings(t, special.String, []stringCase{
		{"literal word kept", "a!b c", "a!b c"},
		{"query escaped", "q=a%21b+c", "q=REDACTED"},
		{"path escaped", "/a%21b%20c/", "/REDACTED/"},
	})
}

// TestGeneric removes credential-shaped text without knowing any secret.
func TestGeneric(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlLWJ5dGVz"
	hdr := http.Header{"Authorization": {"Basic " + b64("u:secret")}, "User-Agent": {"git/2.0"}}
	checkStrings(t, redact.String, []stringCase{
		{"empty", "", ""},
		{"plain", "no credential here", "no credential here"},
		{"basic header", "Authorization: Basic " + b64("u:secret") + "\nAccept: */*", "Authorization: Basic REDACTED\nAccept: */*"},
		{"bearer header", "authorization: Bearer abc", "authorization: Bearer REDACTED"},
		{"token header", "Authorization: token ghx", "Authorization: token REDACTED"},
		{"no scheme", "Authorization: s3cr3t", "Authorization: REDACTED"},
		{"proxy header", "Proxy-Authorization: Basic " + b64("u:p"), "Proxy-Authorization: Basic REDACTED"},
		{"digest header", `Authorization: Digest username="u", response="abc"` + "\n", "Authorization: Digest REDACTED\n"},
		{"Go http.Header", fmt.Sprint(hdr), "map[Authorization:[Basic REDACTED] User-Agent:[git/2.0]]"},
		{"JSON header", `{"Authorization": ["Bearer xyz"]}`, `{"Authorization": ["Bearer REDACTED"]}`},
		{"basic elsewhere", "sent Basic " + b64("u:secret") + " ok", "sent Basic REDACTED ok"},
		{"basic realm kept", `WWW-Authenticate: Basic realm="git"`, `WWW-Authenticate: Basic realm="git"`},
		{"bearer elsewhere", "using Bearer abcdefghijklmnop0123 now", "using Bearer REDACTED now"},
		{"bearer word kept", "invalid bearer token", "invalid bearer token"},
		{"jwt", "token " + jwt + " expired", "token REDACTED expired"},
		{"github token", "ghp_0123456789abcdefghijABCDEFGHIJ012345 leaked", "REDACTED leaked"},
		{"github pat", "github_pat_11AAAAAAA0123456789_abcdefghij", "REDACTED"},
		{"gitlab token", "glpat-0123456789abcdefghij", "REDACTED"},
		{"url password", `Get "https://u:pw@h/x?y=1": EOF`, `Get "https://u:REDACTED@h/x?y=1": EOF`},
		{"url user only", "https://git@github.com/org/repo.git", "https://git@github.com/org/repo.git"},
		{"scp-like", "git@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{"url password with @", "https://user:p@ss:w@rd@host/r", "https://user:REDACTED@host/r"},
		{"two urls", "http://a:b@h1 and https://c:d@h2/p", "http://a:REDACTED@h1 and https://c:REDACTED@h2/p"},
		{"port not password", "http://host:80/a:b@c", "http://host:80/a:b@c"},
		{"query token", "https://h/r.git?access_token=abc&x=1", "https://h/r.git?access_token=REDACTED&x=1"},
		{"query private token", "GET /api?private_token=glx&page=2", "GET /api?private_token=REDACTED&page=2"},
		{"query signature", "https://b.s3/o?X-Amz-Signature=deadbeef", "https://b.s3/o?X-Amz-Signature=REDACTED"},
		{"fragment token", "https://h/cb#access_token=abc", "https://h/cb#access_token=REDACTED"},
		{"harmless query", "https://h/r?page=2&ref=main", "https://h/r?page=2&ref=main"},
	})
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://console-api.enforce.dev", "https://console-api.enforce.dev"},
		{"https://u:pw@h/p", "https://u:REDACTED@h/p"},
		{"https://u@h/p", "https://u@h/p"},
		{"https://h/p?token=abc&page=2", "https://h/p?page=REDACTED&token=REDACTED"},
		{"://bad url with http://u:pw@h", "://bad url with http://u:REDACTED@h"},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestError(t *testing.T) {
	r := redact.New("hunter2-hunter2")
	if r.Error(nil) != nil || redact.Error(nil) != nil {
		t.Error("nil error became non-nil")
	}
	base := fs.ErrPermission
	clean := fmt.Errorf("nothing secret: %w", base)
	if r.Error(clean) != clean {
		t.Error("an error without secrets was wrapped")
	}
	dirty := fmt.Errorf("server said hunter2-hunter2 at https://u:pw@h/r: %w", base)
	got := r.Error(dirty)
	if want := "server said REDACTED at https://u:REDACTED@h/r: permission denied"; got.Error() != want {
		t.Errorf("Error = %q, want %q", got, want)
	}
	if !errors.Is(got, fs.ErrPermission) {
		t.Error("redacted error does not unwrap to its cause")
	}
	var pe *fs.PathError
	wrapped := r.Error(fmt.Errorf("reading hunter2-hunter2: %w", &fs.PathError{Op: "open", Path: "/x", Err: base}))
	if !errors.As(wrapped, &pe) || pe.Path != "/x" {
		t.Errorf("errors.As through a redacted error: %v", wrapped)
	}
	var nilR *redact.Redactor
	if got := nilR.String("https://a:b@h"); got != "https://a:REDACTED@h" {
		t.Errorf("nil Redactor: %q", got)
	}
}

var (
	errAuth = errors.New("authentication required")
	errGone = errors.New("repository not found")
)

func TestDropAfter(t *testing.T) {
	body := "Authorization: Basic " + b64("robot:pw") + "\n<html>echo</html>"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"body after marker", fmt.Errorf("listing refs of https://h/r: %w", fmt.Errorf("%w: %s", errAuth, body)),
			"listing refs of https://h/r: authentication required"},
		{"second marker", fmt.Errorf("fetching: %w", fmt.Errorf("%w: %s", errGone, body)), "fetching: repository not found"},
		{"no body", fmt.Errorf("fetching: %w", errAuth), "fetching: authentication required"},
		{"other error", errors.New("connection refused"), "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redact.DropAfter(tc.err, errAuth, errGone)
			if d := cmp.Diff(tc.want, got.Error()); d != "" {
				t.Errorf("message (-want +got):\n%s", d)
			}
			if !errors.Is(got, tc.err) {
				t.Error("result does not unwrap to the original")
			}
		})
	}
	if redact.DropAfter(nil, errAuth) != nil {
		t.Error("nil became non-nil")
	}
}

func ExampleRedactor_String() {
	r := redact.New().WithBasicAuth("robot", "correct-horse-battery")
	fmt.Println(r.String("401: Authorization: Basic cm9ib3Q6Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5"))
	fmt.Println(r.String("bad credentials robot:correct-horse-battery"))
	fmt.Println(r.String("at https://robot:correct-horse-battery@git.example.com/config.git"))
	// Output:
	// 401: Authorization: Basic REDACTED
	// bad credentials robot:REDACTED
	// at https://robot:REDACTED@git.example.com/config.git
}
