package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"
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
	// Latency is a fixed delay added to every call (Options.Latency), for
	// example "50ms".
	Latency time.Duration `yaml:"latency"`
	// RegistryV2, when false, turns the v2 ReposService off: its calls
	// answer Unimplemented, as a server without it does. Default on.
	RegistryV2 *bool `yaml:"registry_v2"`
}

// SeedOrg is an organization with its repos.
type SeedOrg struct {
	// ID is an optional fixed root UIDP (40 lowercase hex digits); a fresh
	// one is made when empty.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Entitlements: "certificates", "runtime_repositories".
	Entitlements []string `yaml:"entitlements"`
	// Catalog is the packages the org may install, and ListAPKs lists: each
	// a name (version 1.0-r0 on x86_64 and aarch64) or a mapping {name,
	// version, arch, depends, provides}. When absent, every package
	// resolves and ListAPKs answers PermissionDenied; when present (even
	// empty), builds resolve against it with apko's resolver and fail as
	// apk would.
	Catalog []Package `yaml:"catalog"`
	// SourceImages are the Chainguard catalog images (by name, e.g. "node")
	// the org is entitled to: CreateRepo takes them as sync_config.source,
	// besides the org's own repos.
	SourceImages []string   `yaml:"source_images"`
	Repos        []SeedRepo `yaml:"repos"`
}

// SeedRepo is one image repo. In YAML it is a registry.v1.Repo in the
// API's own shape: the proto's field names (or their JSON names) with
// protojson values, checked field by field against the SDK's schema, so a
// mistake is reported with its line. Each message level may hold
// unknown_fields (see decodeUnknown), fields the SDK does not know, which
// the emulator stores and returns byte for byte. id and create_time are the
// server's and cannot be seeded.
//
// Two keys beside the Repo's fields are the emulator's, for its builds:
// archs (the architectures the image builds for; default x86_64 and
// aarch64) and base_packages (the source image's packages, which every
// build installs besides the overlay's and lists in its locked_config).
type SeedRepo struct {
	Repo         *registryv1.Repo
	Archs        []string
	BasePackages []string
}

// seedRepoKeys are the emulator's own keys of a seed repo.
var seedRepoKeys = map[string]bool{"archs": true, "base_packages": true}

// UnmarshalYAML reads the repo with the SDK's schema, and the emulator's
// keys.
func (sr *SeedRepo) UnmarshalYAML(n *yaml.Node) error {
	r := &registryv1.Repo{}
	if err := decodeMessage(n, r.ProtoReflect(), "", seedRepoKeys); err != nil {
		return err
	}
	sr.Repo = r
	n = resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		var dst *[]string
		switch n.Content[i].Value {
		case "archs":
			dst = &sr.Archs
		case "base_packages":
			dst = &sr.BasePackages
		default:
			continue
		}
		if err := n.Content[i+1].Decode(dst); err != nil {
			return errAt(n.Content[i+1], n.Content[i].Value, "want a list of names")
		}
	}
	return nil
}

// LoadSeed reads and checks a seed file. Unknown keys are errors (with
// their line), as are values the SDK's schema does not take, missing names,
// duplicate org or repo names, unknown entitlements, and overlays the API
// itself would refuse.
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
		if so.Catalog != nil {
			if _, err := newCatalog(so.Catalog); err != nil {
				errs = append(errs, fmt.Errorf("%s.%w", p, err))
			}
		}
		for k, img := range so.SourceImages {
			if strings.TrimSpace(img) == "" || strings.Contains(img, "/") {
				add(fmt.Sprintf("%s.source_images[%d]", p, k), "%q is not an image name", img)
			}
		}
		o := &org{entitlements: setOf(so.Entitlements)}
		repoNames := map[string]int{}
		for j, sr := range so.Repos {
			rp := fmt.Sprintf("%s.repos[%d]", p, j)
			r := sr.Repo
			switch {
			case r.GetName() == "":
				add(rp+".name", "is required")
			case repoNames[r.GetName()] > 0:
				add(rp+".name", "%q is also the name of %s.repos[%d]", r.GetName(), p, repoNames[r.GetName()]-1)
			default:
				repoNames[r.GetName()] = j + 1
			}
			if r.GetId() != "" {
				add(rp+".id", "is set by the server")
			}
			if r.GetCreateTime() != nil {
				add(rp+".create_time", "is set by the server")
			}
			if err := checkOverlay(o, r.GetSyncConfig(), r.GetCustomOverlay(), false, false); err != nil {
				add(rp+".custom_overlay", "%s", status.Convert(err).Message())
			}
			for k, a := range sr.Archs {
				if a != ArchX86_64 && a != ArchAarch64 {
					add(fmt.Sprintf("%s.archs[%d]", rp, k), "unknown architecture %q (known: %s, %s)", a, ArchX86_64, ArchAarch64)
				}
			}
			for k, b := range sr.BasePackages {
				if strings.TrimSpace(b) == "" {
					add(fmt.Sprintf("%s.base_packages[%d]", rp, k), "empty package name")
				}
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
	if sd.Latency < 0 {
		add("latency", "%s is negative", sd.Latency)
	}
	return errors.Join(errs...)
}

// ApplySeed validates the seed, then creates its organizations (with their
// entitlements and catalogs) and repos, adds its slow packages and repos,
// and sets its latency and whether v2 is served. Nothing is applied when it
// returns an error. No builds are started.
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
			st.orgs[id].catalog, _ = newCatalog(so.Catalog) // checked by Validate
		}
		st.orgs[id].sourceImages = setOf(so.SourceImages)
		for _, sr := range so.Repos {
			r := proto.Clone(sr.Repo).(*registryv1.Repo)
			r.Id = string(uidp.NewUIDP(uidp.UIDP(id)))
			r.CreateTime = timestamppb.New(s.now())
			if r.CustomOverlay == nil && r.GetSyncConfig().GetApkoOverlay() != "" {
				r.CustomOverlay = &registryv1.CustomOverlay{}
			}
			st.addRepoLocked(&repoRecord{repo: r, updated: s.now(), archs: sr.Archs, basePackages: sr.BasePackages})
		}
	}
	for _, p := range sd.SlowPackages {
		s.builds.hang[p] = true
	}
	for _, n := range sd.SlowRepos {
		s.builds.hangRepos[n] = true
	}
	if sd.RegistryV2 != nil {
		s.SetRegistryV2(*sd.RegistryV2)
	}
	if sd.Latency != 0 {
		s.SetLatency(sd.Latency)
	}
	return nil
}
