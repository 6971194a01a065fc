package emulator

import (
	"context"
	"crypto/sha1" //nolint:gosec // the APKINDEX checksum is SHA-1
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"chainguard.dev/apko/pkg/apk/apk"
	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"
)

// Architectures the emulator builds for, as apk names them.
const (
	ArchX86_64  = "x86_64"
	ArchAarch64 = "aarch64"
)

// defaultArchs are the architectures of a package or a repo that names none.
var defaultArchs = []string{ArchX86_64, ArchAarch64}

// defaultVersion is the version of a catalog package given by name only.
const defaultVersion = "1.0-r0"

// Page sizes of ListAPKs, as apk.platform.proto documents them.
const (
	defaultAPKPageSize = 50
	maxAPKPageSize     = 200
)

// catalogEpoch is the build time of every package's oldest version; each
// newer version of a package on an architecture was built an hour later.
var catalogEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Package is one package of an organization's catalog: what ListAPKs
// serves and what its builds can install. In a seed it is a name (version
// 1.0-r0, on x86_64 and aarch64) or a mapping of these fields.
type Package struct {
	Name string
	// Version is an apk version, e.g. "8.0.4-r1". Default 1.0-r0.
	Version string
	// Archs are the architectures it is built for. Default x86_64 and
	// aarch64.
	Archs []string
	// Depends are its runtime dependencies, apk constraints such as
	// "libcurl", "so:libc.so.6" or "openssl>3".
	Depends []string
	// Provides are the virtual names it provides, such as "cmd:curl=8.1-r0"
	// or "so:libcurl.so.4=4". Two packages that provide one name at
	// different versions conflict.
	Provides []string
}

// UnmarshalYAML reads a package name or a {name, version, arch, depends,
// provides} mapping, strictly.
func (p *Package) UnmarshalYAML(n *yaml.Node) error {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		p.Name = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(n, "", "want a package name or {name, version, arch, depends, provides}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "name":
			err = v.Decode(&p.Name)
		case "version":
			err = v.Decode(&p.Version)
		case "arch":
			err = v.Decode(&p.Archs)
		case "depends":
			err = v.Decode(&p.Depends)
		case "provides":
			err = v.Decode(&p.Provides)
		default:
			return errAt(k, k.Value, "unknown key (known: name, version, arch, depends, provides)")
		}
		if err != nil {
			return errAt(v, k.Value, "%s", yamlLine.ReplaceAllString(err.Error(), ""))
		}
	}
	return nil
}

// yamlLine is the prefix of yaml.v3's errors, which errAt replaces.
var yamlLine = regexp.MustCompile(`^yaml: unmarshal errors:\n\s*line \d+: `)

// normalized fills in the defaults.
func (p Package) normalized() Package {
	if p.Version == "" {
		p.Version = defaultVersion
	}
	if len(p.Archs) == 0 {
		p.Archs = defaultArchs
	}
	return p
}

// check returns what is wrong with a (normalized) package, or "".
func (p Package) check() string {
	if strings.TrimSpace(p.Name) == "" || strings.ContainsAny(p.Name, " =<>~@") {
		return fmt.Sprintf("%q is not a package name", p.Name)
	}
	if _, err := apk.ParseVersion(p.Version); err != nil {
		return fmt.Sprintf("version %q is not an apk version", p.Version)
	}
	for _, a := range p.Archs {
		if a != ArchX86_64 && a != ArchAarch64 {
			return fmt.Sprintf("unknown architecture %q (known: %s, %s)", a, ArchX86_64, ArchAarch64)
		}
	}
	for _, d := range slices.Concat(p.Depends, p.Provides) {
		if c := apk.ResolvePackageNameVersionPin(strings.TrimPrefix(d, "!")); c.Name == "" {
			return fmt.Sprintf("%q is not a package constraint", d)
		}
	}
	return ""
}

// catalog is an organization's packages, with the indexes apko's resolver
// reads, by architecture. The indexes are unnamed: apko pins the packages
// of a named repository to "@name" constraints.
type catalog struct {
	packages []Package
	byArch   map[string][]*apk.Package
	indexes  map[string]apk.NamedIndex
}

// newCatalog checks and indexes pkgs.
func newCatalog(pkgs []Package) (*catalog, error) {
	c := &catalog{byArch: map[string][]*apk.Package{}, indexes: map[string]apk.NamedIndex{}}
	seen := map[string]bool{}
	for i, p := range pkgs {
		p = p.normalized()
		if msg := p.check(); msg != "" {
			return nil, fmt.Errorf("catalog[%d]: %s", i, msg)
		}
		for _, a := range p.Archs {
			key := p.Name + "\x00" + p.Version + "\x00" + a
			if seen[key] {
				return nil, fmt.Errorf("catalog[%d]: %s-%s on %s is listed twice", i, p.Name, p.Version, a)
			}
			seen[key] = true
			c.byArch[a] = append(c.byArch[a], &apk.Package{
				Name:         p.Name,
				Version:      p.Version,
				Arch:         a,
				Origin:       p.Name,
				Description:  "emulated package " + p.Name,
				License:      "Apache-2.0",
				Dependencies: p.Depends,
				Provides:     p.Provides,
			})
		}
		c.packages = append(c.packages, p)
	}
	for a, pkgs := range c.byArch {
		slices.SortFunc(pkgs, comparePackages)
		repo := &apk.Repository{URI: "https://apk.cgr.dev/emulator/" + a}
		c.indexes[a] = apk.NewNamedRepositoryWithIndex("", repo.WithIndex(&apk.APKIndex{Packages: pkgs}))
		// Build times: each newer version of a name an hour later.
		var prev *apk.Package
		rank := 0
		for _, p := range pkgs {
			if prev != nil && prev.Name == p.Name {
				rank++
			} else {
				rank = 0
			}
			p.BuildTime = catalogEpoch.Add(time.Duration(rank) * time.Hour)
			sum := sha1.Sum([]byte(p.Filename() + a)) //nolint:gosec // APKINDEX checksums are SHA-1
			p.Checksum = sum[:]
			p.Size = uint64(4096 + 64*len(p.Name))
			p.InstalledSize = 4 * p.Size
			prev = p
		}
	}
	return c, nil
}

// comparePackages orders by name, then apk version.
func comparePackages(a, b *apk.Package) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	va, _ := apk.ParseVersion(a.Version)
	vb, _ := apk.ParseVersion(b.Version)
	return apk.CompareVersions(va, vb)
}

// apkID is the UIDP of a package of the organization org.
func apkID(org string, p *apk.Package) string {
	sum := sha256.Sum256([]byte(p.Name + "\x00" + p.Version + "\x00" + p.Arch))
	return org + "/" + hex.EncodeToString(sum[:8])
}

// apkService is chainguard.platform.apk.APK: ListAPKs from each
// organization's catalog. ListAPKSummaries is Unimplemented.
type apkService struct {
	apkv1.UnimplementedAPKServer
	s *Server
}

// ListAPKs lists the packages of the organizations the filter's uidp
// names (every organization with a catalog when it names none), filtered
// by package_name, architecture and origin exactly, the newest version of
// each name and architecture only with most_recently_updated, ordered by
// order_by ("uid", "package_name" or "build_time", asc or desc; default
// uid), and paginated as the proto documents: page_size 0 without a token
// returns everything, otherwise 50 by default and at most 200. An
// organization seeded without a catalog answers PermissionDenied, as for a
// caller without the apk.list capability.
func (x *apkService) ListAPKs(_ context.Context, f *apkv1.APKFilter) (*apkv1.APKList, error) {
	field, desc, err := parseOrderBy(f.GetOrderBy(), "uid", "package_name", "build_time")
	if err != nil {
		return nil, err
	}
	st := x.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, scope := range []string{f.GetUidp().GetDescendantsOf(), f.GetUidp().GetChildrenOf()} {
		if scope == "" {
			continue
		}
		if o := st.orgs[uidp.Root(scope)]; o == nil || o.catalog == nil || st.groups[scope] == nil {
			return nil, status.Errorf(codes.PermissionDenied, "the caller does not have the capability apk.list on %s", scope)
		}
	}
	var all []*apkv1.APKPackage
	for orgID, o := range st.orgs {
		if o.catalog == nil {
			continue
		}
		for _, a := range defaultArchs {
			if f.GetArchitecture() != "" && a != f.GetArchitecture() {
				continue
			}
			pkgs := o.catalog.byArch[a]
			for i, p := range pkgs {
				if f.GetPackageName() != "" && p.Name != f.GetPackageName() {
					continue
				}
				if f.GetOrigin() != "" && p.Origin != f.GetOrigin() {
					continue
				}
				if f.GetMostRecentlyUpdated() && i+1 < len(pkgs) && pkgs[i+1].Name == p.Name {
					continue // a newer version follows
				}
				id := apkID(orgID, p)
				if !matchUIDP(f.GetUidp(), id) {
					continue
				}
				all = append(all, apkPackage(id, p))
			}
		}
	}
	key := func(p *apkv1.APKPackage) []string {
		switch field {
		case "package_name":
			return []string{p.GetPackageName(), p.GetId()}
		case "build_time":
			return []string{p.GetBuildTime().AsTime().UTC().Format(sortableTime), p.GetId()}
		}
		return []string{p.GetId()}
	}
	sortByKey(all, key, desc)
	plain := proto.Clone(f).(*apkv1.APKFilter)
	plain.PageSize, plain.PageToken, plain.Skip = 0, "", 0
	page, err := paginate(all, key, desc, pageRequest{
		size:           f.GetPageSize(),
		skip:           f.GetSkip(),
		token:          f.GetPageToken(),
		defaultSize:    defaultAPKPageSize,
		maxSize:        maxAPKPageSize,
		allWhenUnpaged: true,
		fingerprint:    fingerprint(plain),
	}, x.s.now())
	if err != nil {
		return nil, err
	}
	return &apkv1.APKList{Items: page.items, NextPageToken: page.next, TotalCount: int64(len(all)), Skipped: page.skipped}, nil
}

// apkPackage is a catalog package as the API returns it.
func apkPackage(id string, p *apk.Package) *apkv1.APKPackage {
	return &apkv1.APKPackage{
		Id:            id,
		Checksum:      p.Checksum,
		PackageName:   p.Name,
		Version:       p.Version,
		Architecture:  p.Arch,
		Size:          p.Size,
		InstalledSize: p.InstalledSize,
		Description:   p.Description,
		Url:           "https://github.com/wolfi-dev/os",
		License:       p.License,
		Origin:        p.Origin,
		BuildTime:     timestamppb.New(p.BuildTime),
		Depend:        p.Dependencies,
		Provides:      p.Provides,
	}
}

// SetCatalogPackages sets an organization's catalog: the packages
// ListAPKs lists and builds can install. A nil pkgs removes the catalog,
// so every package resolves again (the default) and ListAPKs answers
// PermissionDenied. It returns an error when orgID is not an organization
// or a package is not valid.
func (s *Server) SetCatalogPackages(orgID string, pkgs []Package) error {
	return s.store.withOrg("setting catalog", orgID, func(o *org) error {
		if pkgs == nil {
			o.catalog = nil
			return nil
		}
		c, err := newCatalog(pkgs)
		if err != nil {
			return fmt.Errorf("setting catalog: %w", err)
		}
		o.catalog = c
		return nil
	})
}

// SetCatalog sets the packages an organization may install by name: each
// at version 1.0-r0 on x86_64 and aarch64 (see SetCatalogPackages). A nil
// pkgs removes the catalog.
func (s *Server) SetCatalog(orgID string, pkgs []string) error {
	if pkgs == nil {
		return s.SetCatalogPackages(orgID, nil)
	}
	out := make([]Package, len(pkgs))
	for i, name := range pkgs {
		out[i] = Package{Name: name}
	}
	return s.SetCatalogPackages(orgID, out)
}

// SetBaseImage sets what a repo's source image holds, for its builds:
// the base packages that every build installs besides the overlay's, and
// the architectures it is built for (default x86_64 and aarch64).
func (s *Server) SetBaseImage(repoID string, basePackages []string, archs ...string) error {
	for _, a := range archs {
		if a != ArchX86_64 && a != ArchAarch64 {
			return fmt.Errorf("setting base image of %s: unknown architecture %q", repoID, a)
		}
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.repos[repoID]
	if !ok {
		return fmt.Errorf("setting base image of %s: repo not found", repoID)
	}
	rec.basePackages, rec.archs = slices.Clone(basePackages), slices.Clone(archs)
	return nil
}
