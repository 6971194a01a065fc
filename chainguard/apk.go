package chainguard

import (
	"context"
	"fmt"
	"sort"
	"time"

	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
)

// APKPageSize is the page size of ListPackages: the largest ListAPKs takes
// ("Default: 50, Maximum: 200").
const APKPageSize = 200

// maxAPKPages bounds one listing (200 × 5,000 = a million packages), so a
// server that keeps answering a next page cannot keep the client forever.
const maxAPKPages = 5000

// Package is one package of an organization's APK index, for one
// architecture, with what a resolver needs of it.
type Package struct {
	Name             string
	Version          string
	Arch             string
	Origin           string
	Depends          []string
	Provides         []string
	InstallIf        []string
	ProviderPriority uint64
}

// PackageList is one architecture's listing and the number of ListAPKs
// calls (pages) it took.
type PackageList struct {
	Packages []Package
	Calls    int
}

// ListPackages lists every package (every version) of the organization's
// index for one architecture, following next_page_token to the last page.
// It needs the apk.list capability: without it the API answers
// PermissionDenied.
func (c *Client) ListPackages(ctx context.Context, orgID, arch string) (PackageList, error) {
	var out PackageList
	token := ""
	seen := map[string]bool{}
	for {
		if out.Calls == maxAPKPages {
			return out, fmt.Errorf("listing packages of %s for %s: more than %d pages", orgID, arch, maxAPKPages)
		}
		out.Calls++
		list, err := c.clients.APK().APK().ListAPKs(ctx, &apkv1.APKFilter{
			Uidp:         &commonv1.UIDPFilter{DescendantsOf: orgID},
			Architecture: arch,
			PageSize:     APKPageSize,
			PageToken:    token,
		})
		if err != nil {
			return out, fmt.Errorf("listing packages of %s for %s: %w", orgID, arch, err)
		}
		for _, p := range list.GetItems() {
			out.Packages = append(out.Packages, Package{
				Name:             p.GetPackageName(),
				Version:          p.GetVersion(),
				Arch:             p.GetArchitecture(),
				Origin:           p.GetOrigin(),
				Depends:          p.GetDepend(),
				Provides:         p.GetProvides(),
				InstallIf:        p.GetInstallIf(),
				ProviderPriority: p.GetProviderPriority(),
			})
		}
		token = list.GetNextPageToken()
		if token == "" {
			return out, nil
		}
		if seen[token] {
			return out, fmt.Errorf("listing packages of %s for %s: the API gave page token %q twice", orgID, arch, token)
		}
		seen[token] = true
	}
}

// BuildConfig is what a successful build was built from.
type BuildConfig struct {
	BuildID   string
	StartedAt time.Time
	// Config is the apko configuration (JSON) the build resolved: the
	// packages as requested, the base image's and the overlay's.
	Config string
	// LockedConfig is the build's version-locked apko configuration (JSON),
	// listing every package the image holds, pinned.
	LockedConfig string
}

// SuccessfulBuilds returns the configurations of the repo's successful
// builds started at or after since, newest first, in one ListBuildReports
// call without logs.
func (c *Client) SuccessfulBuilds(ctx context.Context, repoID string, since time.Time) ([]BuildConfig, error) {
	reports, err := c.buildReports(ctx, repoID, since)
	if err != nil {
		return nil, err
	}
	var out []BuildConfig
	for _, r := range reports {
		if r.GetResult() != registryv1.BuildReport_Success || (r.GetConfig() == "" && r.GetLockedConfig() == "") {
			continue
		}
		out = append(out, BuildConfig{BuildID: r.GetId(), StartedAt: r.GetStartedAt().AsTime(), Config: r.GetConfig(), LockedConfig: r.GetLockedConfig()})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].BuildID > out[j].BuildID
	})
	return out, nil
}
