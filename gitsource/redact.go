package gitsource

import "strings"

// redacted replaces every secret in messages.
const redacted = "REDACTED"

// redactURLs replaces the password of every URL with user-info
// (scheme://user:password@host) found anywhere in s.
func redactURLs(s string) string {
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
		b.WriteString(redacted)
		b.WriteString(authority[at:])
		rest = rest[end:]
	}
}

// redactSecrets replaces every occurrence of each non-empty secret in s, and
// then URL passwords.
func redactSecrets(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return redactURLs(s)
}

// redactedError is err with secrets taken out of its message. It still
// unwraps to err, so errors.Is and errors.As keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError returns err with URL passwords and the given secrets removed
// from its message, and surrounding white space (servers' messages end in
// newlines) trimmed; nil stays nil.
func redactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := strings.TrimSpace(redactSecrets(msg, secrets))
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}
