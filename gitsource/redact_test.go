package gitsource

import (
	"errors"
	"fmt"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"https://github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"https://git@github.com/org/repo.git", "https://git@github.com/org/repo.git"},
		{"https://user:s3cret@github.com/org/repo.git", "https://user:REDACTED@github.com/org/repo.git"},
		{"https://user:s3cret@github.com", "https://user:REDACTED@github.com"},
		{"https://:tok@host:8443/r", "https://:REDACTED@host:8443/r"},
		{"https://user:p@ss:w@rd@host/r", "https://user:REDACTED@host/r"},
		{"ssh://git@host:2222/r.git", "ssh://git@host:2222/r.git"},
		{"git@github.com:org/repo.git", "git@github.com:org/repo.git"},
		{`Get "http://a:b@h/x?y=1": EOF`, `Get "http://a:REDACTED@h/x?y=1": EOF`},
		{"two: http://a:b@h1 and https://c:d@h2/p", "two: http://a:REDACTED@h1 and https://c:REDACTED@h2/p"},
		{"://a:b@h", "://a:REDACTED@h"},
		{"http://host:80/a:b@c", "http://host:80/a:b@c"},
	} {
		if got := redactURLs(tc.in); got != tc.want {
			t.Errorf("redactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactError(t *testing.T) {
	if redactError(nil, []string{"x"}) != nil {
		t.Error("nil error became non-nil")
	}
	base := errors.New("base")
	clean := fmt.Errorf("nothing secret: %w", base)
	if redactError(clean, []string{"hunter2"}) != clean {
		t.Error("an error without secrets was wrapped")
	}
	dirty := fmt.Errorf("server said hunter2 at https://u:pw@h/r: %w", base)
	got := redactError(dirty, []string{"", "hunter2"})
	if want := "server said REDACTED at https://u:REDACTED@h/r: base"; got.Error() != want {
		t.Errorf("redactError = %q, want %q", got, want)
	}
	if !errors.Is(got, base) {
		t.Error("redacted error does not unwrap to its cause")
	}
}
