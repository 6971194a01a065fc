package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// Seed is the initial state of an emulator, as read from YAML by LoadSeed.
// examples/seed.yaml documents every key.
type Seed struct {
	Orgs []SeedOrg `yaml:"orgs"`
	// SlowPackages are packages whose builds hang until BuildTimeout.
	SlowPackages []string `yaml:"slow_packages"`
	// SlowRepos are repo names (in any org) whose builds hang until
	// BuildTimeout.
	SlowRepos []string `yaml:"slow_repos"`
}

// SeedOrg is an organization with its repos.
type SeedOrg struct {
	// ID is an optional fixed root UIDP (40 lowercase hex digits); a fresh
	// one is made when empty.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Entitlements: "certificates", "runtime_repositories".
	Entitlements []string `yaml:"entitlements"`
	// Catalog is the packages the org may install. When absent, every
	// package resolves; when present (even empty), builds of overlays naming
	// other packages fail.
	Catalog []string   `yaml:"catalog"`
	Repos   []SeedRepo `yaml:"repos"`
}

// SeedRepo is one image repo, with the fields of registry.v1.Repo.
type SeedRepo struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Readme      string   `yaml:"readme"`
	Bundles     []string `yaml:"bundles"`
	Aliases     []string `yaml:"aliases"`
	ActiveTags  []string `yaml:"active_tags"`
	// CatalogTier is a registry.v1.CatalogTier name: APPLICATION, BASE,
	// FIPS, AI, DEVTOOLS, COMMERCIAL (or UNKNOWN, the default).
	CatalogTier string          `yaml:"catalog_tier"`
	SyncConfig  *SeedSyncConfig `yaml:"sync_config"`
	// CustomOverlay is the live overlay, in the overlay file format, read
	// with overlay.ParseNode (the parser of ca-images-iac files), so the
	// seed takes exactly what those files take. Only a repo with
	// sync_config.apko_overlay set takes one.
	CustomOverlay yaml.Node `yaml:"custom_overlay"`
}

// SeedSyncConfig is registry.v1.SyncConfig. A non-empty ApkoOverlay makes
// the repo a Custom Assembly repo.
type SeedSyncConfig struct {
	Source      string `yaml:"source"`
	ApkoOverlay string `yaml:"apko_overlay"`
	// Expiration is an RFC 3339 time, kept to the nanosecond.
	Expiration  string `yaml:"expiration"`
	UniqueTags  bool   `yaml:"unique_tags"`
	Google      string `yaml:"google"`
	Amazon      string `yaml:"amazon"`
	Azure       string `yaml:"azure"`
	GracePeriod bool   `yaml:"grace_period"`
}

// LoadSeed reads and checks a seed file. Unknown keys are errors, as are
// missing names, duplicate org or repo names, unknown entitlements or tiers,
// bad expirations, and overlays the API itself would refuse.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("reading seed: %w", err)
	}
	seed, err := ParseSeed(data)
	if err != nil {
		return Seed{}, fmt.Errorf("seed %s: %w", path, err)
	}
	return seed, nil
}

// ParseSeed decodes and checks a seed document; see LoadSeed. An empty
// document is the empty seed.
func ParseSeed(data []byte) (Seed, error) {
	var seed Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&seed); err != nil {
		if errors.Is(err, io.EOF) {
			return Seed{}, nil
		}
		return Seed{}, fmt.Errorf("decoding: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Seed{}, errors.New("more than one YAML document")
	}
	if err := seed.Validate(); err != nil {
		return Seed{}, err
	}
	return seed, nil
}

// Validate checks the seed without applying it, returning every problem,
// one per line, each prefixed by its path (e.g. "orgs[0].repos[1].name").
func (sd Seed) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	orgNames := map[string]int{}
	orgIDs := map[string]int{}
	for i, so := range sd.Orgs {
		p := fmt.Sprintf("orgs[%d]", i)
		if so.Name == "" {
			add(p+".name", "is required")
		} else if j, dup := orgNames[so.Name]; dup {
			add(p+".name", "%q is also the name of orgs[%d]", so.Name, j)
		} else {
			orgNames[so.Name] = i
		}
		if so.ID != "" {
			if !uidp.Valid(so.ID) || !uidp.InRoot(so.ID) {
				add(p+".id", "%q is not a root UIDP (40 lowercase hex digits)", so.ID)
			} else if j, dup := orgIDs[so.ID]; dup {
				add(p+".id", "%q is also the id of orgs[%d]", so.ID, j)
			} else {
				orgIDs[so.ID] = i
			}
		}
		for k, e := range so.Entitlements {
			if e != EntitlementCertificates && e != EntitlementRuntimeRepositories {
				add(fmt.Sprintf("%s.entitlements[%d]", p, k), "unknown entitlement %q (known: %s, %s)", e, EntitlementCertificates, EntitlementRuntimeRepositories)
			}
		}
		for k, pkg := range so.Catalog {
			if strings.TrimSpace(pkg) == "" {
				add(fmt.Sprintf("%s.catalog[%d]", p, k), "empty package name")
			}
		}
		o := &org{entitlements: setOf(so.Entitlements)}
		repoNames := map[string]int{}
		for j, sr := range so.Repos {
			rp := fmt.Sprintf("%s.repos[%d]", p, j)
			if sr.Name == "" {
				add(rp+".name", "is required")
			} else if k, dup := repoNames[sr.Name]; dup {
				add(rp+".name", "%q is also the name of %s.repos[%d]", sr.Name, p, k)
			} else {
				repoNames[sr.Name] = j
			}
			r, err := sr.proto()
			if err != nil {
				add(rp, "%v", err)
				continue
			}
			if err := checkOverlay(o, r.GetSyncConfig(), r.GetCustomOverlay()); err != nil {
				add(rp+".custom_overlay", "%s", status.Convert(err).Message())
			}
		}
	}
	for k, pkg := range sd.SlowPackages {
		if strings.TrimSpace(pkg) == "" {
			add(fmt.Sprintf("slow_packages[%d]", k), "empty package name")
		}
	}
	for k, name := range sd.SlowRepos {
		if strings.TrimSpace(name) == "" {
			add(fmt.Sprintf("slow_repos[%d]", k), "empty repo name")
		}
	}
	return errors.Join(errs...)
}

// proto converts the repo, checking catalog_tier and the expiration.
func (sr SeedRepo) proto() (*registryv1.Repo, error) {
	r := &registryv1.Repo{
		Name:        sr.Name,
		Description: sr.Description,
		Readme:      sr.Readme,
		Bundles:     sr.Bundles,
		Aliases:     sr.Aliases,
		ActiveTags:  sr.ActiveTags,
	}
	if sr.CatalogTier != "" {
		v, ok := registryv1.CatalogTier_value[sr.CatalogTier]
		if !ok {
			return nil, fmt.Errorf("catalog_tier: unknown tier %q (known: %s)", sr.CatalogTier, strings.Join(tierNames(), ", "))
		}
		r.CatalogTier = registryv1.CatalogTier(v)
	}
	if sc := sr.SyncConfig; sc != nil {
		r.SyncConfig = &registryv1.SyncConfig{
			Source:      sc.Source,
			ApkoOverlay: sc.ApkoOverlay,
			UniqueTags:  sc.UniqueTags,
			Google:      sc.Google,
			Amazon:      sc.Amazon,
			Azure:       sc.Azure,
			GracePeriod: sc.GracePeriod,
		}
		if sc.Expiration != "" {
			t, err := time.Parse(time.RFC3339Nano, sc.Expiration)
			if err != nil {
				return nil, fmt.Errorf("sync_config.expiration: %q is not an RFC 3339 time", sc.Expiration)
			}
			r.SyncConfig.Expiration = timestamppb.New(t)
		}
	}
	if sr.CustomOverlay.Kind != 0 { // absent: no custom_overlay key
		o, err := overlay.ParseNode("seed", &sr.CustomOverlay)
		if err != nil {
			return nil, fmt.Errorf("custom_overlay: %w", err)
		}
		r.CustomOverlay = overlaypb.ToProto(o)
	}
	return r, nil
}

// tierNames lists the catalog tiers, sorted by value.
func tierNames() []string {
	values := make([]int, 0, len(registryv1.CatalogTier_name))
	for v := range registryv1.CatalogTier_name {
		values = append(values, int(v))
	}
	sort.Ints(values)
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = registryv1.CatalogTier_name[int32(v)]
	}
	return names
}

// ApplySeed validates the seed, then creates its organizations (with their
// entitlements and catalogs) and repos, and adds its slow packages and
// repos. Nothing
// is applied when it returns an error. No builds are started.
func (s *Server) ApplySeed(sd Seed) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("applying seed: %w", err)
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, so := range sd.Orgs {
		if _, taken := st.groups[so.ID]; so.ID != "" && taken {
			return fmt.Errorf("applying seed: orgs[%d].id: %q is already used", i, so.ID)
		}
	}
	for _, so := range sd.Orgs {
		id := so.ID
		if id == "" {
			id = st.addGroupLocked("", &iamv1.Group{Name: so.Name})
			st.orgs[id].entitlements = setOf(so.Entitlements)
		} else if err := st.createOrgWithIDLocked(id, so.Name, so.Entitlements); err != nil {
			return fmt.Errorf("applying seed: %w", err) // unreachable: checked above
		}
		if so.Catalog != nil {
			st.orgs[id].catalog = setOf(so.Catalog)
		}
		for _, sr := range so.Repos {
			r, _ := sr.proto() // checked by Validate
			r.Id = string(uidp.NewUIDP(uidp.UIDP(id)))
			r.CreateTime = timestamppb.New(s.now())
			if r.CustomOverlay == nil && r.GetSyncConfig().GetApkoOverlay() != "" {
				r.CustomOverlay = &registryv1.CustomOverlay{}
			}
			st.repos[r.Id] = r
		}
	}
	for _, p := range sd.SlowPackages {
		s.builds.hang[p] = true
	}
	for _, n := range sd.SlowRepos {
		s.builds.hangRepos[n] = true
	}
	return nil
}
