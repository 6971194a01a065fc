package emulator

import (
	"fmt"
	"math/rand/v2"
)

// SyntheticPackage is the name of the i-th package of SyntheticCatalog.
func SyntheticPackage(i int) string { return fmt.Sprintf("pkg-%04d", i) }

// SyntheticCatalog is a catalog of n packages shaped like Wolfi, for
// benchmarks: each on both architectures, providing so:libpkgNNNN.so.1 and
// depending on up to three packages with lower numbers (through that so:
// name or by name), most of them among a core of a hundred libraries (as
// glibc, libgcc and openssl are), every tenth also in a second version
// (1.1-r0). An image of 33 named packages then installs about a hundred.
// The same n gives the same catalog.
func SyntheticCatalog(n int) []Package {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Package
	for i := range n {
		p := Package{Name: SyntheticPackage(i), Version: "1.0-r0", Provides: []string{fmt.Sprintf("so:libpkg%04d.so.1=1", i)}}
		for range rng.IntN(4) {
			if i == 0 {
				break
			}
			j := rng.IntN(min(i, 100))
			if rng.IntN(5) == 0 {
				j = rng.IntN(i)
			}
			if rng.IntN(2) == 0 {
				p.Depends = append(p.Depends, fmt.Sprintf("so:libpkg%04d.so.1", j))
			} else {
				p.Depends = append(p.Depends, SyntheticPackage(j))
			}
		}
		out = append(out, p)
		if i%10 == 0 {
			q := p
			q.Version = "1.1-r0"
			out = append(out, q)
		}
	}
	return out
}
