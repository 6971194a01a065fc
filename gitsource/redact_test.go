package gitsource

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

func TestCleanError(t *testing.T) {
	r := redact.New().WithBasicAuth("robot", "hunter2-hunter2")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"body of a 401", fmt.Errorf("listing refs: %w", fmt.Errorf("%w: echo robot:hunter2-hunter2\n", transport.ErrAuthenticationRequired)),
			"listing refs: authentication required"},
		{"body of a 403", fmt.Errorf("%w: <html>no</html>", transport.ErrAuthorizationFailed), "authorization failed"},
		{"body of a 404", fmt.Errorf("%w: Not Found", transport.ErrRepositoryNotFound), "repository not found"},
		{"secret and url", errors.New("server said hunter2-hunter2 at https://u:pw@h/r\n"), "server said REDACTED at https://u:REDACTED@h/r"},
		{"trailing newline", errors.New("remote: boom\n"), "remote: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cleanError(tc.err, r)
			if tc.err == nil {
				if got != nil {
					t.Errorf("cleanError(nil) = %v", got)
				}
				return
			}
			if got.Error() != tc.want {
				t.Errorf("cleanError = %q, want %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Error("cleaned error does not unwrap to its cause")
			}
		})
	}
	clean := errors.New("nothing secret")
	if cleanError(clean, r) != clean {
		t.Error("an error with nothing to clean was wrapped")
	}
}
