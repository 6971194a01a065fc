// Package testenv holds the fixtures the tests of several packages share:
// a Custom Assembly repo with every field set (so that a test can check
// that a write keeps each of them); HTTP clients: one too slow to finish
// its body, with the check that the server answers it and closes the
// connection, and one that wants only the answer's status; a buffer for
// logs that goroutines write and read at once; and, for a delivery loop
// with retries, a collector of the results it observes and a runner until
// the test ends; the text exposition of a histogram, to compare a
// collector against; and the golden-file check (compare, or rewrite with
// -update). It depends only on the SDK, go-cmp and the standard library,
// and only tests import it.
package testenv

import (
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CustomRepo is a Custom Assembly repo named name with every field but the
// overlay set.
func CustomRepo(name string) *registryv1.Repo {
	return &registryv1.Repo{
		Name:        name,
		Description: "the " + name + " image",
		Readme:      "# " + name,
		Bundles:     []string{"application", "featured"},
		Aliases:     []string{name + "-alias"},
		ActiveTags:  []string{"latest", "1.2"},
		CatalogTier: registryv1.CatalogTier_APPLICATION,
		SyncConfig: &registryv1.SyncConfig{
			Source:      "cgr.dev/chainguard/" + name,
			UniqueTags:  true,
			Expiration:  timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)),
			Google:      "gcp/" + name,
			Amazon:      "aws/" + name,
			Azure:       "azure/" + name,
			ApkoOverlay: "contents: {}",
			GracePeriod: true,
		},
	}
}
