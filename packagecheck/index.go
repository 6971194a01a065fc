package packagecheck

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"chainguard.dev/apko/pkg/apk/apk"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
)

// index is one organization's packages as apko indexes, one per
// architecture, with the names (packages and what they provide) each holds.
type index struct {
	readAt time.Time
	hash   [sha256.Size]byte
	byArch map[string]apk.NamedIndex
	names  map[string]map[string]bool // arch -> package and provided names
	counts map[string]int             // arch -> packages
}

// has reports whether any architecture of the index knows name.
func (ix *index) has(name string) bool {
	for _, names := range ix.names {
		if names[name] {
			return true
		}
	}
	return false
}

// indexFiles writes the listings as APKINDEX archives under dir and loads
// them with apko's own index reader.
//
// Why files, and not apko's in-memory indexes (Repository.WithIndex and
// NewNamedRepositoryWithIndex, as apko's tests and the emulator build
// them): NewPkgResolver and GetPackagesWithDependencies cache a resolver
// and a cross-architecture disqualification map per index object in
// package-level caches (pkg/apk/apk/shameful_global_caches.go), and purge an
// entry only when apko's index cache replaces that index with a newer
// generation of the same URL. An index apko never served is "current"
// forever, so every refresh of an in-memory index would leave a resolver
// and every package in it in memory for the life of the process. Loaded
// through GetRepositoryIndexes from one local path per architecture, each
// new generation (a newer modification time) replaces and purges the last:
// the caches hold one generation per organization and architecture.
//
// gen must grow with every call for the same dir; it becomes the files'
// modification time, which is what apko compares.
func indexFiles(ctx context.Context, dir string, gen int64, lists map[string]chainguard.PackageList, readAt time.Time) (*index, error) {
	ix := &index{
		readAt: readAt,
		byArch: map[string]apk.NamedIndex{},
		names:  map[string]map[string]bool{},
		counts: map[string]int{},
		hash:   listingHash(lists),
	}
	for arch, list := range lists {
		pkgs := make([]*apk.Package, 0, len(list.Packages))
		names := make(map[string]bool, len(list.Packages))
		for _, p := range list.Packages {
			pkgs = append(pkgs, &apk.Package{
				Name:             p.Name,
				Version:          p.Version,
				Arch:             arch,
				Origin:           p.Origin,
				Dependencies:     p.Depends,
				Provides:         p.Provides,
				InstallIf:        p.InstallIf,
				ProviderPriority: p.ProviderPriority,
			})
			names[p.Name] = true
			for _, prov := range p.Provides {
				names[constraintName(prov)] = true
			}
		}
		archive, err := indexArchive(pkgs)
		if err != nil {
			return nil, fmt.Errorf("writing the %s index: %w", arch, err)
		}
		path := apk.IndexURL(dir, arch)
		if err := writeFile(path, archive, time.Unix(gen, 0)); err != nil {
			return nil, fmt.Errorf("writing the %s index: %w", arch, err)
		}
		loaded, err := apk.GetRepositoryIndexes(ctx, []string{dir}, nil, arch, apk.WithIgnoreSignatures(true))
		if err != nil {
			return nil, fmt.Errorf("loading the %s index: %w", arch, err)
		}
		if len(loaded) != 1 {
			return nil, fmt.Errorf("loading the %s index: %d indexes, want 1", arch, len(loaded))
		}
		ix.byArch[arch] = loaded[0]
		ix.names[arch] = names
		ix.counts[arch] = len(pkgs)
	}
	return ix, nil
}

// indexArchive is an APKINDEX.tar.gz of pkgs, unsigned, with the fields
// apko's ParsePackageIndex reads for resolving. It is written here rather
// than with apk.ArchiveFromIndex because that template prints install_if as
// a Go slice ("i:[a b]"), which reads back as the names "[a" and "b]".
func indexArchive(pkgs []*apk.Package) (io.Reader, error) {
	var text bytes.Buffer
	line := func(key byte, v string) {
		if v != "" {
			text.WriteByte(key)
			text.WriteByte(':')
			text.WriteString(v)
			text.WriteByte('\n')
		}
	}
	for _, p := range pkgs {
		line('P', p.Name)
		line('V', p.Version)
		line('A', p.Arch)
		line('o', p.Origin)
		line('D', strings.Join(p.Dependencies, " "))
		line('p', strings.Join(p.Provides, " "))
		line('i', strings.Join(p.InstallIf, " "))
		if p.ProviderPriority != 0 {
			line('k', strconv.FormatUint(p.ProviderPriority, 10))
		}
		text.WriteByte('\n')
	}
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{"APKINDEX", text.Bytes()}, {"DESCRIPTION", []byte("ca-reconciler package check")}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return &out, nil
}

// writeFile replaces path atomically with r's bytes and sets its
// modification time.
func writeFile(path string, r io.Reader, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), mtime, mtime); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// listingHash fingerprints the listings, so that a read that finds the same
// packages keeps the index (and apko's caches) it has.
func listingHash(lists map[string]chainguard.PackageList) [sha256.Size]byte {
	h := sha256.New()
	archs := slices.Sorted(maps.Keys(lists))
	str := func(s string) {
		_ = binary.Write(h, binary.LittleEndian, uint32(len(s)))
		h.Write([]byte(s))
	}
	strs := func(ss []string) {
		_ = binary.Write(h, binary.LittleEndian, uint32(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	for _, a := range archs {
		str(a)
		pkgs := slices.Clone(lists[a].Packages)
		slices.SortFunc(pkgs, func(x, y chainguard.Package) int {
			if c := strings.Compare(x.Name, y.Name); c != 0 {
				return c
			}
			return strings.Compare(x.Version, y.Version)
		})
		for _, p := range pkgs {
			str(p.Name)
			str(p.Version)
			str(p.Origin)
			strs(p.Depends)
			strs(p.Provides)
			strs(p.InstallIf)
			_ = binary.Write(h, binary.LittleEndian, p.ProviderPriority)
		}
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// constraintName is the package (or provided) name of an apk constraint
// such as "mongo=8.0.1-r0", "so:libc.so.6", "python-3.13>3.13.1" or
// "!foo".
func constraintName(c string) string {
	return apk.ResolvePackageNameVersionPin(strings.TrimPrefix(c, "!")).Name
}
