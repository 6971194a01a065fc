package overlaypb

import (
	"maps"
	"slices"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// The two registry versions spell an overlay message alike but for its
// accounts entries (field names, id widths, whether a gid can be absent),
// and protobuf's getters are safe on nil messages, so one reader serves
// both: these interfaces are what it asks of each version's messages.

type namedMessage interface {
	GetName() string
	GetContent() string
}

type contentsMessage[K namedMessage] interface {
	GetPackages() []string
	GetRuntimeRepositories() []string
	GetRuntimeKeyring() []K
}

type accountsMessage[U, G any] interface {
	GetRunAs() string
	GetUsers() []U
	GetGroups() []G
}

type certificatesMessage[E namedMessage] interface {
	GetAdditional() []E
	GetProviders() []string
}

type overlayMessage[C, A, X any] interface {
	GetContents() C
	GetEnvironment() map[string]string
	GetAnnotations() map[string]string
	GetAccounts() A
	GetCertificates() X
}

// fromMessage is FromProto for either registry version: user and group
// read that version's accounts entries. A nil message is the empty Overlay.
func fromMessage[C contentsMessage[K], A accountsMessage[U, G], X certificatesMessage[E], K, E namedMessage, U, G any](
	p overlayMessage[C, A, X], user func(U) overlay.User, group func(G) overlay.Group,
) overlay.Overlay {
	c, a, x := p.GetContents(), p.GetAccounts(), p.GetCertificates()
	return overlay.Overlay{
		Packages:            cloneStrings(c.GetPackages()),
		RuntimeRepositories: cloneStrings(c.GetRuntimeRepositories()),
		RuntimeKeyring:      convert(c.GetRuntimeKeyring(), fromNamed[K]),
		Environment:         cloneMap(p.GetEnvironment()),
		Annotations:         cloneMap(p.GetAnnotations()),
		Accounts: overlay.Accounts{
			RunAs:  a.GetRunAs(),
			Users:  convert(a.GetUsers(), user),
			Groups: convert(a.GetGroups(), group),
		},
		Certificates:         convert(x.GetAdditional(), fromNamed[E]),
		CertificateProviders: cloneStrings(x.GetProviders()),
	}
}

func fromNamed[E namedMessage](e E) overlay.NamedContent {
	return overlay.NamedContent{Name: e.GetName(), Content: e.GetContent()}
}

// convert maps each element of s with f; an empty s is nil.
func convert[S, T any](s []S, f func(S) T) []T {
	if len(s) == 0 {
		return nil
	}
	out := make([]T, len(s))
	for i, e := range s {
		out[i] = f(e)
	}
	return out
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
