package emutest

import "github.com/ca-reconciler/ca-reconciler/emulator"

// Catalog is the organization's package index of the package check's
// tests, with extra after it: glibc providing libc, busybox and curl
// depending on it, jq, mongo-8.0, x86-tool (x86_64 only), broken (its
// dependency libnope absent) and openssl 3.4.0-r0. The emulator and the
// check order the index themselves, so where extra stands does not matter.
func Catalog(extra ...emulator.Package) []emulator.Package {
	return append([]emulator.Package{
		{Name: "glibc", Version: "2.41-r0", Provides: []string{"so:libc.so.6=6"}},
		{Name: "busybox", Version: "1.37-r0", Depends: []string{"so:libc.so.6"}},
		{Name: "curl", Version: "8.11-r0", Depends: []string{"so:libc.so.6"}},
		{Name: "jq", Version: "1.7.1-r0"},
		{Name: "mongo-8.0", Version: "8.0.4-r0"},
		{Name: "x86-tool", Version: "1.0-r0", Archs: []string{"x86_64"}},
		{Name: "broken", Version: "2.0-r0", Depends: []string{"libnope"}},
		{Name: "openssl", Version: "3.4.0-r0"},
	}, extra...)
}
