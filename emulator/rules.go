package emulator

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file is the emulator's own statement of what the registry accepts in
// a custom_overlay, written from Chainguard's documentation rather than from
// any client's code:
//
//   - the proto comments of chainguard.dev/sdk@v0.1.223
//     (registry/v1 ImageContents and RuntimeKeyringEntry; registry/v2
//     CustomOverlay: "Keys with the reserved prefix "CHAINGUARD_" are
//     rejected", "Keys with the reserved prefixes "dev.chainguard." and
//     "org.opencontainers." are rejected", "Can only be set on repositories
//     with custom assembly enabled");
//   - Chainguard Academy, "Using chainctl to manage Custom Assembly
//     resources": certificates must each be one PEM-encoded X.509
//     certificate, optionally preceded by descriptive text; private keys are
//     rejected; all inline certificates together are at most 50 KB; runtime
//     repositories are HTTPS only, with no private, loopback or link-local
//     address and no internal host name; runtime keys are one PEM RSA
//     public key each, 512 KB together, with a safe file name that does not
//     start with "chainguard" or "wolfi";
//   - the newer service's Guarded Entrypoint, which reserves the environment
//     prefix "GUARDED_" as well (Chainguard's documentation of 2026-09);
//   - the messages the service returns for entitlement and Custom Assembly
//     failures, as terraform-provider-chainguard matches them
//     (internal/provider/custom_overlay.go, overlayErrorHints).
//
// Where the service's wording is not published, the messages below are the
// emulator's, in the same style: the field path, then what is wrong.

// Messages of the errors the real service returns, word for word.
const (
	msgNotCustom            = "custom_overlay can only be set for custom images"
	msgNeedsSyncConfig      = "custom_overlay requires a sync_config"
	msgCertificates         = "using custom_overlay.certificates is not allowed"
	msgRuntimeRepositories  = "using custom_overlay.contents.runtime_repositories is not allowed"
	msgSyncConfigNotChanged = "sync_config cannot be changed"
)

// msgRuntimeKeyring is inferred: runtime keys come with the runtime
// repositories entitlement, and the message follows the service's pattern.
const msgRuntimeKeyring = "using custom_overlay.contents.runtime_keyring is not allowed"

// Limits of the inline content, as documented.
const (
	maxCertificateBytes    = 50 << 10  // certificates.additional, all together
	maxRuntimeKeyringBytes = 512 << 10 // contents.runtime_keyring, all together
)

// Reserved prefixes.
var (
	reservedEnvironmentPrefixes = []string{"CHAINGUARD_", "GUARDED_"}
	reservedAnnotationPrefixes  = []string{"dev.chainguard.", "org.opencontainers."}
	reservedKeyNamePrefixes     = []string{"chainguard", "wolfi"}
	// internalHostSuffixes name hosts that only resolve inside a private
	// network.
	internalHostSuffixes = []string{".svc.cluster.local", ".internal", ".local", ".localhost"}
)

// keyName is a safe file name: letters, digits, "_", "-" and ".", not
// starting with ".".
var keyName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*$`)

// checkOverlay is what the service enforces on a custom_overlay before it
// stores it, in this order: an empty overlay is always accepted; on create,
// the repo must have a sync_config; only Custom Assembly repos (whose
// sync_config.apko_overlay is set) take an overlay; certificates, runtime
// repositories and runtime keys need the organization's entitlements; then
// the field rules of checkFields. otherFields says that the overlay also
// holds fields only the other API version can name (unknown fields a v2
// write sent), so that it is not empty. The error is the gRPC status the
// API returns.
func checkOverlay(o *org, sc *registryv1.SyncConfig, co *registryv1.CustomOverlay, create, otherFields bool) error {
	if !otherFields && (co == nil || isEmptyMessage(co.ProtoReflect())) {
		return nil
	}
	if create && sc == nil {
		return status.Error(codes.InvalidArgument, msgNeedsSyncConfig)
	}
	if sc.GetApkoOverlay() == "" {
		return status.Error(codes.PermissionDenied, msgNotCustom)
	}
	entitled := func(e string) bool { return o != nil && o.entitlements[e] }
	certs := co.GetCertificates()
	if (len(certs.GetAdditional()) > 0 || len(certs.GetProviders()) > 0) && !entitled(EntitlementCertificates) {
		return status.Error(codes.InvalidArgument, msgCertificates)
	}
	contents := co.GetContents()
	if len(contents.GetRuntimeRepositories()) > 0 && !entitled(EntitlementRuntimeRepositories) {
		return status.Error(codes.PermissionDenied, msgRuntimeRepositories)
	}
	if len(contents.GetRuntimeKeyring()) > 0 && !entitled(EntitlementRuntimeRepositories) {
		return status.Error(codes.PermissionDenied, msgRuntimeKeyring)
	}
	if msg := checkFields(co); msg != "" {
		return status.Error(codes.InvalidArgument, msg)
	}
	return nil
}

// checkFields returns the first field rule co breaks, as
// "custom_overlay.FIELD: message", or "" when it breaks none. Fields are
// checked in proto order, map keys in sorted order.
func checkFields(co *registryv1.CustomOverlay) string {
	const p = "custom_overlay."
	seen := map[string]bool{}
	for i, r := range co.GetContents().GetRuntimeRepositories() {
		if seen[r] {
			return fmt.Sprintf("%scontents.runtime_repositories[%d]: duplicate repository", p, i)
		}
		seen[r] = true
		if msg := checkRuntimeRepository(r); msg != "" {
			return fmt.Sprintf("%scontents.runtime_repositories[%d]: %s", p, i, msg)
		}
	}
	names, total := map[string]bool{}, 0
	for i, k := range co.GetContents().GetRuntimeKeyring() {
		f := fmt.Sprintf("%scontents.runtime_keyring[%d]", p, i)
		if msg := checkKeyName(k.GetName()); msg != "" {
			return f + ".name: " + msg
		}
		if names[k.GetName()] {
			return fmt.Sprintf("%s.name: duplicate name %q", f, k.GetName())
		}
		names[k.GetName()] = true
		if msg := checkRSAPublicKey(k.GetContent()); msg != "" {
			return f + ".content: " + msg
		}
		total += len(k.GetContent())
	}
	if total > maxRuntimeKeyringBytes {
		return fmt.Sprintf("%scontents.runtime_keyring: %d bytes of keys, more than the limit of 512 KB", p, total)
	}
	for _, k := range sortedKeys(co.GetEnvironment()) {
		for _, prefix := range reservedEnvironmentPrefixes {
			if strings.HasPrefix(k, prefix) {
				return fmt.Sprintf("%senvironment: environment variable %q uses reserved prefix %q", p, k, prefix)
			}
		}
	}
	for _, k := range sortedKeys(co.GetAnnotations()) {
		for _, prefix := range reservedAnnotationPrefixes {
			if strings.HasPrefix(k, prefix) {
				return fmt.Sprintf("%sannotations: annotation key %q uses reserved prefix %q", p, k, prefix)
			}
		}
	}
	total = 0
	for i, c := range co.GetCertificates().GetAdditional() {
		f := fmt.Sprintf("%scertificates.additional[%d]", p, i)
		if c.GetName() == "" {
			return f + ".name: required"
		}
		if msg := checkCertificate(c.GetContent()); msg != "" {
			return f + ".content: " + msg
		}
		total += len(c.GetContent())
	}
	if total > maxCertificateBytes {
		return fmt.Sprintf("%scertificates.additional: %d bytes of certificates, more than the limit of 50 KB", p, total)
	}
	return ""
}

// checkRuntimeRepository: an https URL whose host is a public name or
// address. The message names the host, never the whole URL, which may carry
// credentials.
func checkRuntimeRepository(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "not an absolute URL"
	}
	if u.Scheme != "https" {
		return "must use https"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" {
		return `host "localhost" is not allowed`
	}
	for _, s := range internalHostSuffixes {
		if strings.HasSuffix(host, s) {
			return fmt.Sprintf("host %q is an internal name", host)
		}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		addr = addr.Unmap()
		if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsUnspecified() {
			return fmt.Sprintf("address %s is not public", addr)
		}
	}
	return ""
}

// checkKeyName: required, a safe file name, not a reserved name.
func checkKeyName(name string) string {
	switch {
	case name == "":
		return "required"
	case strings.HasPrefix(name, "."):
		return `must not start with "."`
	case strings.ContainsAny(name, `/\`):
		return "must not contain a path separator"
	case !keyName.MatchString(name):
		return "not a safe file name"
	}
	for _, p := range reservedKeyNamePrefixes {
		if strings.HasPrefix(strings.ToLower(name), p) {
			return fmt.Sprintf("names starting with %q are reserved", p)
		}
	}
	return ""
}

// checkRSAPublicKey: exactly one PEM "PUBLIC KEY" block holding an RSA key,
// with nothing before or after it.
func checkRSAPublicKey(content string) string {
	if strings.TrimSpace(content) == "" {
		return "required"
	}
	block, rest := pem.Decode([]byte(strings.TrimSpace(content)))
	switch {
	case block == nil:
		return "not a PEM public key"
	case block.Type != "PUBLIC KEY":
		return fmt.Sprintf("PEM block %q is not a PUBLIC KEY", block.Type)
	case strings.TrimSpace(string(rest)) != "" || !strings.HasPrefix(strings.TrimSpace(content), "-----BEGIN"):
		return "must be exactly one PUBLIC KEY block with nothing before or after it"
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "not a valid public key"
	}
	if _, ok := pub.(*rsa.PublicKey); !ok {
		return "not an RSA public key"
	}
	return ""
}

// checkCertificate: exactly one PEM CERTIFICATE block, which descriptive
// text may precede, that parses as X.509; no private key anywhere.
func checkCertificate(content string) string {
	if strings.TrimSpace(content) == "" {
		return "required"
	}
	if strings.Contains(content, "PRIVATE KEY-----") {
		return "private keys are not allowed"
	}
	var blocks []*pem.Block
	for rest := []byte(content); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 1 || strings.Count(content, "-----BEGIN ") != 1 {
		return fmt.Sprintf("must hold exactly one PEM certificate, found %d", max(len(blocks), strings.Count(content, "-----BEGIN ")))
	}
	if blocks[0].Type != "CERTIFICATE" {
		return fmt.Sprintf("PEM block %q is not a CERTIFICATE", blocks[0].Type)
	}
	if _, err := x509.ParseCertificate(blocks[0].Bytes); err != nil {
		return "not a valid X.509 certificate"
	}
	return ""
}

// checkUpdate is what a v1 UpdateRepo (a full PUT) enforces before storing
// next over stored: sync_config is Chainguard's and must be echoed exactly,
// then the overlay rules.
func checkUpdate(o *org, stored, next *registryv1.Repo) error {
	if !sameSyncConfig(stored.GetSyncConfig(), next.GetSyncConfig()) {
		return status.Error(codes.InvalidArgument, msgSyncConfigNotChanged)
	}
	return checkOverlay(o, stored.GetSyncConfig(), next.GetCustomOverlay(), false, false)
}

// sameSyncConfig compares exactly, timestamps to the nanosecond and unknown
// fields byte for byte; an absent sync_config equals an empty one.
func sameSyncConfig(a, b *registryv1.SyncConfig) bool {
	if a == nil {
		a = &registryv1.SyncConfig{}
	}
	if b == nil {
		b = &registryv1.SyncConfig{}
	}
	return proto.Equal(a, b)
}

// isEmptyMessage reports whether m sets nothing: no unknown fields, and
// every field it sets is a message that is itself empty. So nil, {} and
// all-empty sections are the same overlay, while an overlay holding only
// fields this SDK does not know is not empty.
func isEmptyMessage(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return false
	}
	empty := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || !isEmptyMessage(v.Message()) {
			empty = false
		}
		return empty
	})
	return empty
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
