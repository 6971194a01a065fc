// Package overlay is the Custom Assembly overlay as a plain value: the file
// format that `chainctl image repo build apply -f FILE` reads, parsed strictly
// with line numbers, validated against every rule the Chainguard API enforces
// (and a few of our own), put in canonical form, compared, diffed for humans,
// and converted exactly to and from registryv1.CustomOverlay.
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
