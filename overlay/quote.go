package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Values from a file or the API reach messages, diffs, logs and pages only
// through quote and abbreviate, so that one repo can never make any of them
// large: a value longer than shortValue bytes is shown as a prefix of
// prefixBytes, its length and a short SHA-256.
const (
	shortValue  = 64
	prefixBytes = 24
)

// quote is s quoted as Go does (strconv.Quote) when short, and otherwise
// abbreviated: `"-----BEGIN CERTIFICATE---"… (52740 bytes, sha256:0123456789ab)`.
func quote(s string) string {
	if len(s) <= shortValue {
		return strconv.Quote(s)
	}
	return abbreviate(s)
}

// abbreviate shows s by a quoted prefix, its length and a short SHA-256,
// whatever its length.
func abbreviate(s string) string {
	n := min(prefixBytes, len(s))
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "… " + fingerprint(s)
}

// fingerprint shows s by its length and a short SHA-256 only:
// "(52740 bytes, sha256:0123456789ab)".
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "(" + strconv.Itoa(len(s)) + " bytes, sha256:" + hex.EncodeToString(sum[:6]) + ")"
}

// shown is s as it is when short and printable (a number in a message),
// and otherwise quoted as quote does.
func shown(s string) string {
	if len(s) <= shortValue && strconv.CanBackquote(s) && !strings.ContainsAny(s, "`") {
		return s
	}
	return quote(s)
}
