// Package overlay is the Custom Assembly overlay as a plain value: the file
// format that `chainctl image repo build apply -f FILE` reads, parsed strictly
// with line numbers, validated against every rule the Chainguard API enforces
// (and a few of our own), put in canonical form, compared, diffed for humans,
// and marshaled back to YAML. Conversion to and from the API's
// registryv1.CustomOverlay lives in the sub-package overlaypb, so that this
// package imports no SDK type.
//
// The file format uses apko's keys (contents.packages,
// contents.runtime_repositories, contents.runtime_keyring, environment,
// annotations, accounts, certificates.additional, certificates.providers).
// Parse walks the yaml.Node tree itself rather than decoding into structs, so
// that every problem (syntax, unknown keys, keys apko has but Custom Assembly
// does not take, duplicate keys, wrong types, validation rules) is reported at
// once with file, line, column and field:
//
//	ca-images-iac/nginx.yaml:5:3: environment.CHAINGUARD_FIPS: key prefix "CHAINGUARD_" is reserved
//
// Choices where the product leaves room:
//
//   - Scalars are taken as text where a string is expected (PORT: 3000 is
//     "3000", as yaml.v3 decodes it for chainctl); lists and mappings are
//     type errors. uid and gid take YAML integers only (not "1000", not 1.5).
//   - An empty file, a file of comments only, "{}" and "---" are the empty
//     overlay, which is valid and clears the repo's customization. A second
//     YAML document, even an empty one, is an error.
//   - Anchors and aliases are resolved; "<<" merge keys are an error.
//   - Only the YAML core schema's explicit tags are accepted (!!str, !!int,
//     !!float, !!bool, !!null, !!map, !!seq, and the non-specific "!");
//     any other (!!binary, !!timestamp, !!set, !custom) is an error rather
//     than a value one reader decodes and another does not. An untagged
//     2025-10-15 is a timestamp to YAML and its text here.
//   - YAML syntax errors are placed at the character where the shortest
//     failing prefix of the file ends: yaml.v3 gives no column and, for
//     parser errors, a line that is often one early.
//   - A runtime_keyring entry is exactly one PEM "PUBLIC KEY" block holding
//     a PKIX RSA key, with nothing but white space before or after it (the
//     chainctl docs; apko's parsePublicKey takes no other form, so PKCS #1
//     "RSA PUBLIC KEY" is refused). Names starting "chainguard" or "wolfi"
//     are refused whatever their case. Runtime repositories may be
//     "@tag https://...". The size limits are 50 KiB and 512 KiB of content
//     as written.
//   - Reserved prefixes: "CHAINGUARD_" and "GUARDED_" for environment keys,
//     "dev.chainguard." and "org.opencontainers." (with the dot) for
//     annotations.
//   - run-as is never an error: apko resolves a name against the image's
//     passwd and otherwise keeps it as given, and a uid needs no entry.
//   - Warnings (SeverityWarning: the service accepts them and the file is
//     applied) are a run-as user or group that neither the file nor
//     Chainguard's base images define (wolfi-baselayout's accounts and
//     nonroot; numbers never warn), and a certificate that has expired or
//     is not a CA, naming its expiry date (checked against Parser.Now).
//     Group members are not checked against users: a group may name users
//     of the base image. Members must not be empty or repeated.
//   - Keys of features the live service has and this version's SDK lacks
//     (Guarded Entrypoint's guarded_entrypoint, fail_mode, preflight and
//     command_override; Custom Assembly Overlays' overlays, bindings,
//     overlay_bindings and tag_selector, in any spelling) are an error "not
//     supported by this version of ca-reconciler": written, they would be
//     lost. Any other unknown key suggests the nearest known one.
//   - Lint beyond OVERLAY.md: package names with whitespace, empty
//     annotation keys, apko's own account checks (user name required, uid
//     not 0, group name required) and absolute homedir and shell.
//   - Canonical keeps the order of runtime repositories (apk reads them in
//     order) and sorts everything else that is a set.
//
// # Limits
//
// A file is untrusted input that reaches the daemon's memory, logs,
// metrics, /status, the page and the API, so its cost is bounded. Each
// limit is checked before what it bounds is expanded or stored, and breaking
// one is a problem at the line and column where the file crosses it:
//
//	MaxFileBytes      1 MiB    the file (the service's largest contents are 512 KiB of keys and 50 KiB of certificates)
//	MaxExpandedBytes  1 MiB    scalar text plus one byte per node, with every alias replaced by what it names
//	MaxAliases        1,000    alias uses, counting those inside aliased nodes (a billion laughs)
//	MaxItems          1,000    entries of any one list or map
//	MaxNameBytes      256      each key and name (packages, entry, user and group names, run-as, members)
//	MaxValueBytes     16 KiB   each other string but certificate and key contents (bounded by their sections)
//	MaxEncodedBytes   1 MiB    the protobuf encoding (EncodedSize); grpc-go refuses requests over 4 MiB
//	MaxProblems       100      problems reported per file, then a count of the rest
//
// Aliases are measured once per node, not per use, so the check itself is
// linear in the file. A message shows a value by at most a short quoted
// prefix, its length and a SHA-256 prefix, and Change.String does the same
// for values over 128 bytes, so no file or live overlay can make a message,
// a diff line, a log line or a page large. (A file at the very edge of the
// limits may marshal to more than MaxFileBytes.)
//
// The package does no I/O.
package overlay

// Overlay is one image repo's customization. The zero value is the empty
// overlay; nil and empty slices and maps mean the same thing.
type Overlay struct {
	// Packages are appended to the source image's packages (contents.packages).
	Packages []string
	// RuntimeRepositories replace the image's /etc/apk/repositories
	// (contents.runtime_repositories).
	RuntimeRepositories []string
	// RuntimeKeyring are APK signing public keys written to /etc/apk/keys
	// (contents.runtime_keyring).
	RuntimeKeyring []NamedContent
	// Environment is the image's extra environment.
	Environment map[string]string
	// Annotations are the image's extra OCI annotations.
	Annotations map[string]string
	// Accounts customizes users, groups and the user the image runs as.
	Accounts Accounts
	// Certificates are extra CA certificates (certificates.additional).
	Certificates []NamedContent
	// CertificateProviders is certificates.providers, kept so that a live
	// overlay round-trips exactly.
	CertificateProviders []string
}

// IsZero reports whether o is the empty overlay: nil, {} and all-empty
// sections are all zero, as they are the same overlay to the service (a
// cleared overlay reads back as an empty message). It equals
// Equal(o, Overlay{}) without building canonical forms.
func (o Overlay) IsZero() bool {
	return len(o.Packages) == 0 && len(o.RuntimeRepositories) == 0 && len(o.RuntimeKeyring) == 0 &&
		len(o.Environment) == 0 && len(o.Annotations) == 0 && o.Accounts.IsZero() &&
		len(o.Certificates) == 0 && len(o.CertificateProviders) == 0
}

// NamedContent is a certificate or key: a file name and its PEM content.
type NamedContent struct {
	Name    string
	Content string
}

// Accounts is apko's accounts section.
type Accounts struct {
	RunAs  string
	Users  []User
	Groups []Group
}

// User is one entry of accounts.users.
type User struct {
	UserName  string
	UID       uint32
	GID       *uint32
	GroupName string
	Shell     string
	HomeDir   string
}

// Group is one entry of accounts.groups.
type Group struct {
	GroupName string
	GID       uint32
	Members   []string
}

// IsZero reports whether the accounts section is empty.
func (a Accounts) IsZero() bool {
	return a.RunAs == "" && len(a.Users) == 0 && len(a.Groups) == 0
}
