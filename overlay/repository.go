package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// internalSuffixes are host name suffixes that only resolve inside a private
// network; the most specific comes first so that the message names it.
var internalSuffixes = []string{".svc.cluster.local", ".internal", ".local", ".localhost"}

// checkRepository applies the server's rules to one runtime repository: an
// https URL (optionally "@tag https://..." as apk allows) whose host is
// public: not localhost, not an internal name, not a loopback, private
// (RFC 1918, IPv6 ULA), link-local or unspecified address. It returns "" when
// the repository is fine. Messages never repeat the URL, which may carry
// credentials.
func checkRepository(repo string) string {
	raw := repo
	if strings.HasPrefix(repo, "@") {
		_, after, ok := strings.Cut(repo, " ")
		if !ok {
			return `a tagged repository must be "@tag https://..."`
		}
		raw = strings.TrimSpace(after)
	}
	if raw == "" {
		return "empty repository"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("not a valid URL: %v", err)
	}
	if u.Scheme != "https" {
		return "must be an https URL"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "URL has no host"
	}
	if host == "localhost" {
		return `host "localhost" is not allowed`
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(host, s) {
			return fmt.Sprintf("host %s is not allowed (%q names are internal)", quote(host), s)
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "" // a DNS name
	}
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback():
		return fmt.Sprintf("address %s is loopback", addr)
	case addr.IsPrivate():
		return fmt.Sprintf("address %s is private", addr)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return fmt.Sprintf("address %s is link-local", addr)
	case addr.IsUnspecified():
		return fmt.Sprintf("address %s is unspecified", addr)
	}
	return ""
}
