// Package redact removes credentials from text before it leaves the process:
// errors, logs, metrics and status pages. Every package that handles a secret
// or talks to a server that might echo one uses it, so there is one
// placeholder ([Placeholder]) and one set of rules.
//
// A [Redactor] knows the secrets in play (a password, a token, a passphrase)
// and removes each of them in every form it can take in a message:
//
//   - the literal value, and its URL-encoded forms (query and path escaping,
//     upper- and lower-case hex);
//   - base64 of any text holding it, which covers HTTP Basic credentials
//     base64(user:password), base64(:password) and base64(token:), in the
//     standard and URL alphabets, padded or not;
//   - "user:password" for a user given with [Redactor.WithBasicAuth].
//
// Whether or not it knows any secret, it also removes what looks like a
// credential by its position or shape:
//
//   - the value of an Authorization or Proxy-Authorization header (Basic,
//     Bearer, token, Digest, ... or no scheme), in "Name: value" lines and in
//     Go's printing of an http.Header;
//   - "Basic <base64 of x:y>" and "Bearer <token>" anywhere;
//   - JSON Web Tokens (three base64url parts, the first starting "eyJ") and
//     GitHub and GitLab access tokens by their prefixes (ghp_, github_pat_,
//     glpat-, ...);
//   - the password of a URL with user-info (scheme://user:password@host): the
//     user is kept, the password replaced;
//   - the values of URL query (and fragment) parameters that carry tokens
//     (access_token, token, private_token, password, secret, sig, signature,
//     X-Amz-Signature, code, key, ...).
//
// # Short secrets
//
// A secret shorter than [MinSecretLen] bytes is not matched on its own. A
// password such as "main", "git" or "deploy" is also an ordinary word in ref
// names, paths and messages: replacing every occurrence would mangle unrelated
// text and, worse, show a reader exactly which word is the password. Such a
// secret is still removed where it sits in a credential position: after its
// user ("user:pw", when the user is known), inside base64 that decodes to
// "x:pw", "pw:" or exactly "pw", in URL user-info, in header values and in
// token query parameters; its URL-escaped forms, when they differ from it
// (they then hold a %XX escape, which no word does), are matched anywhere.
// Use long secrets.
//
// # Response bodies
//
// A server's response body is never passed through: [DropAfter] cuts an
// error's message right after a marker error's text, which is where go-git
// (and other HTTP clients) append the body of a 401, 403 or 404 response. A
// body may echo the request, credentials included, in any encoding.
//
// # Errors
//
// [Redactor.Error] returns an error whose message is redacted and which still
// unwraps to the original, so errors.Is and errors.As keep working. The
// unwrapped causes keep their original text: a caller that prints a cause it
// took out with errors.As must redact it again.
package redact

import (
	"encoding/base64"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Placeholder replaces every credential.
const Placeholder = "REDACTED"

// MinSecretLen is the length, in bytes, from which a secret is matched
// wherever it appears; shorter ones only in credential positions (see the
// package documentation for why).
const MinSecretLen = 8

// Redactor removes a fixed set of secrets, and everything that looks like a
// credential, from text. The zero value and nil know no secret but still
// remove credential-shaped text. A Redactor is immutable and safe for
// concurrent use.
type Redactor struct {
	// long are the forms (literal, escaped) of secrets of at least
	// MinSecretLen bytes, longest first.
	long []string
	// short are secrets under MinSecretLen bytes.
	short []string
	// pairs are "user:password" strings, longest first.
	pairs []string
}

// New returns a Redactor for secrets; empty strings are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.add(s)
	}
	r.sort()
	return r
}

// WithBasicAuth returns a copy of r that also removes password and the
// "user:password" pair HTTP Basic auth is made of. A nil r is allowed.
func (r *Redactor) WithBasicAuth(user, password string) *Redactor {
	out := &Redactor{}
	if r != nil {
		out.long = slices.Clone(r.long)
		out.short = slices.Clone(r.short)
		out.pairs = slices.Clone(r.pairs)
	}
	out.add(password)
	if password != "" {
		out.pairs = append(out.pairs, user+":"+password)
	}
	out.sort()
	return out
}

func (r *Redactor) add(s string) {
	if s == "" {
		return
	}
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s), lowerHex(url.QueryEscape(s)), lowerHex(url.PathEscape(s))}
	if len(s) < MinSecretLen {
		if !slices.Contains(r.short, s) {
			r.short = append(r.short, s)
		}
		// An escaped form holds a %XX escape, which no ordinary word does,
		// so it is matched anywhere.
		forms = slices.DeleteFunc(forms, func(f string) bool { return f == s })
	}
	for _, form := range forms {
		if !slices.Contains(r.long, form) {
			r.long = append(r.long, form)
		}
	}
}

// sort puts longer strings first, so a secret that contains another is
// replaced whole.
func (r *Redactor) sort() {
	longestFirst := func(a, b string) int { return len(b) - len(a) }
	slices.SortStableFunc(r.long, longestFirst)
	slices.SortStableFunc(r.pairs, longestFirst)
}

// lowerHex lowercases the hex digits of every %XX escape in s.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if 'A' <= b[j] && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
			i += 2
		}
	}
	return string(b)
}

// String returns s with credentials removed (see the package documentation).
// A nil r removes only credential-shaped text.
func (r *Redactor) String(s string) string {
	if r != nil && (len(r.long) > 0 || len(r.short) > 0) {
		s = base64Run.ReplaceAllStringFunc(s, func(run string) string {
			if r.inBase64(run) {
				return Placeholder
			}
			return run
		})
		for _, p := range r.pairs {
			user, _, _ := strings.Cut(p, ":")
			s = strings.ReplaceAll(s, p, user+":"+Placeholder)
		}
		for _, form := range r.long {
			s = strings.ReplaceAll(s, form, Placeholder)
		}
	}
	return generic(s)
}

// inBase64 reports whether run, decoded in any base64 variant, holds one of
// the secrets.
func (r *Redactor) inBase64(run string) bool {
	for _, dec := range decodings(run) {
		for _, form := range r.long {
			if strings.Contains(dec, form) {
				return true
			}
		}
		for _, s := range r.short {
			if dec == s || strings.HasSuffix(dec, ":"+s) || strings.HasPrefix(dec, s+":") {
				return true
			}
		}
	}
	return false
}

// decodings returns run decoded in every base64 alphabet it is valid in.
func decodings(run string) []string {
	var out []string
	trimmed := strings.TrimRight(run, "=")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		in := run
		if enc == base64.RawStdEncoding || enc == base64.RawURLEncoding {
			in = trimmed
		}
		if b, err := enc.DecodeString(in); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

var (
	// base64Run is a run of base64 characters long enough to hold a
	// credential.
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{4,}={0,2}`)
	// authHeader is an Authorization header name, its separator, an
	// optional scheme and the value up to the end of the line or a closing
	// bracket (as in Go's printing of http.Header); a quoted value ends at
	// its quote.
	authHeader = regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization["']?\s*[:=]\s*\[?\s*)(["']?)((?:basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256)\s+)?([^\r\n\]]*)`)
	// basicCred is a Basic scheme with a base64 value.
	basicCred = regexp.MustCompile(`(?i)\b(basic\s+)([A-Za-z0-9+/_-]{4,}={0,2})`)
	// bearerCred is a Bearer scheme with a token long enough not to be a
	// word ("invalid bearer token").
	bearerCred = regexp.MustCompile(`(?i)\b(bearer\s+)([A-Za-z0-9\-._~+/]{16,}=*)`)
	// jwt is a compact JWS: base64url header (a JSON object, so "eyJ"),
	// payload and signature.
	jwt = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// providerToken are access tokens recognisable by their prefix: GitHub
	// (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and GitLab (glpat-).
	providerToken = regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})`)
	// tokenParam is a URL query or fragment parameter whose value is a
	// credential.
	tokenParam = regexp.MustCompile(`(?i)([?&;#](?:access_token|refresh_token|id_token|private_token|job_token|token|password|passwd|pwd|secret|client_secret|api_key|apikey|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|code|auth)=)([^&#\s"'<>]*)`)
)

// generic removes credential-shaped text, known secret or not.
func generic(s string) string {
	s = authHeader.ReplaceAllStringFunc(s, func(m string) string {
		sub := authHeader.FindStringSubmatch(m)
		prefix, quote, scheme, value := sub[1], sub[2], sub[3], sub[4]
		rest := ""
		if quote != "" {
			// A quoted value ends at its closing quote.
			if i := strings.Index(value, quote); i >= 0 {
				value, rest = value[:i], value[i:]
			}
		}
		if strings.TrimSpace(value) == "" {
			return m
		}
		return prefix + quote + scheme + Placeholder + rest
	})
	s = basicCred.ReplaceAllStringFunc(s, func(m string) string {
		sub := basicCred.FindStringSubmatch(m)
		if sub[2] == Placeholder {
			return m
		}
		for _, dec := range decodings(sub[2]) {
			if strings.Contains(dec, ":") && utf8.ValidString(dec) {
				return sub[1] + Placeholder
			}
		}
		return m
	})
	s = bearerCred.ReplaceAllString(s, "${1}"+Placeholder)
	s = jwt.ReplaceAllString(s, Placeholder)
	s = providerToken.ReplaceAllString(s, Placeholder)
	s = tokenParam.ReplaceAllStringFunc(s, func(m string) string {
		sub := tokenParam.FindStringSubmatch(m)
		if sub[2] == "" {
			return m
		}
		return sub[1] + Placeholder
	})
	return userInfo(s)
}

// userInfo replaces the password of every URL with user-info
// (scheme://user:password@host) found anywhere in s.
func userInfo(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		start := i + len("://")
		b.WriteString(rest[:start])
		rest = rest[start:]
		end := strings.IndexAny(rest, "/?#\"'<>` \t\r\n")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		at := strings.LastIndex(authority, "@")
		colon := strings.Index(authority, ":")
		if at < 0 || colon < 0 || colon > at {
			continue
		}
		b.WriteString(authority[:colon+1])
		b.WriteString(Placeholder)
		b.WriteString(authority[at:])
		rest = rest[end:]
	}
}

// String removes credential-shaped text from s; it knows no secret.
func String(s string) string { return (*Redactor)(nil).String(s) }

// URL returns raw, a URL, fit to show: the password of its user-info and the
// value of every query parameter replaced (the user and the parameter names
// are kept), and credential-shaped text removed. What does not parse as a URL
// is redacted as text.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return String(raw)
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Placeholder)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = Placeholder
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return String(u.String())
}

// redacted is an error with credentials taken out of its message. It unwraps
// to the original error.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Error returns err with its message redacted by r; it unwraps to err, so
// errors.Is and errors.As keep working. An error with nothing to redact is
// returned as it is; nil stays nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	return &redacted{msg: clean, err: err}
}

// Error removes credential-shaped text from err's message; see
// [Redactor.Error].
func Error(err error) error { return (*Redactor)(nil).Error(err) }

// DropAfter cuts err's message right after the text of the first of markers
// that err wraps (errors.Is), so that whatever a lower layer appended to it
// (go-git appends the body of a 401, 403 or 404 response to
// transport.ErrAuthenticationRequired, ErrAuthorizationFailed and
// ErrRepositoryNotFound) is dropped. The result still unwraps to err. An err
// that wraps none of markers, or whose message does not hold the marker's
// text, is returned unchanged; nil stays nil.
func DropAfter(err error, markers ...error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, m := range markers {
		if !errors.Is(err, m) {
			continue
		}
		text := m.Error()
		i := strings.Index(msg, text)
		if i < 0 {
			continue
		}
		if cut := msg[:i+len(text)]; cut != msg {
			return &redacted{msg: cut, err: err}
		}
		return err
	}
	return err
}
