package packagecheck_test

import (
	"context"
	"fmt"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
)

// The reconciler checks the repos it is about to write, between Desired and
// Plan, and writes none of the refused ones.
func Example() {
	ctx := context.Background()
	emu := emulator.New(emulator.Options{})
	defer emu.Close()
	url, _ := emu.Start("127.0.0.1:0")
	orgID := emu.CreateOrg("acme.com")
	_ = emu.SetCatalog(orgID, []string{"glibc", "curl", "mongo-8.0"})
	repo := emu.CreateRepo(orgID, &registryv1.Repo{Name: "python", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})

	client, _ := chainguard.Dial(ctx, chainguard.Config{URL: url})
	defer client.Close()
	checker, _ := packagecheck.New(client, packagecheck.Config{})
	defer checker.Close()

	const path = "ca-images-iac/python.yaml"
	parsed, _ := overlay.ParseFile(path, []byte("contents:\n  packages:\n    - curl\n    - mongo-9.0\n"))
	res := checker.Check(ctx, packagecheck.Org{ID: orgID, Name: "acme.com"}, []packagecheck.Repo{{
		Name:      "python",
		ID:        repo.GetId(),
		File:      path,
		Packages:  parsed.Overlay.Packages,
		Positions: parsed.Positions,
	}})
	fmt.Println(res.Status, res.Refused())
	for _, p := range res.Problems["python"] {
		fmt.Println(p)
	}
	fmt.Println(res.Notes["python"])
	// Output:
	// checked [python]
	// ca-images-iac/python.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)
	// [no successful build in the last 24h0m0s tells the base image; the file's packages were checked alone]
}
