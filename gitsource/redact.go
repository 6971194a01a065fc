package gitsource

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ca-reconciler/ca-reconciler/internal/redact"
)

// bodyMarkers are the transport errors after which go-git appends the body
// of the server's response (a 401, 403 or 404); the body is dropped, because
// a server or proxy may echo the request, credentials included.
var bodyMarkers = []error{
	transport.ErrAuthenticationRequired,
	transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound,
}

// cleanError returns err fit to leave the package: without any response
// body, with the secrets r knows and anything credential-shaped removed, and
// with surrounding white space (servers' messages end in newlines) trimmed.
// It unwraps to err; nil stays nil.
func cleanError(err error, r *redact.Redactor) error {
	if err == nil {
		return nil
	}
	out := r.Error(redact.DropAfter(err, bodyMarkers...))
	if msg := out.Error(); strings.TrimSpace(msg) != msg {
		return &trimmedError{msg: strings.TrimSpace(msg), err: out}
	}
	return out
}

// cleanText is cleanError for a message that goes into a log field.
func cleanText(err error, r *redact.Redactor) string {
	return cleanError(err, r).Error()
}

// trimmedError is err with white space trimmed from its message.
type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }
