package emulator_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"chainguard.dev/sdk/auth"
	"chainguard.dev/sdk/proto/platform"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// An emulator on loopback, called with the SDK's own clients.
func Example() {
	emu := emulator.New(emulator.Options{Token: "t0ken", BuildDuration: 10 * time.Millisecond})
	defer emu.Close()
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	org := emu.CreateOrg("acme.example")
	emu.CreateRepo(org, &registryv1.Repo{
		Name:       "nginx",
		ActiveTags: []string{"latest"},
		SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/nginx", ApkoOverlay: "contents: {}"},
	})

	// Every call needs a deadline: the SDK waits for the server to be ready.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clients, err := platform.NewPlatformClients(ctx, url, auth.NewFromToken(ctx, "Bearer t0ken", false))
	if err != nil {
		panic(err)
	}
	defer clients.Close()
	reg := clients.Registry().Registry()

	list, err := reg.ListRepos(ctx, &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil {
		panic(err)
	}
	repo := list.GetItems()[0]
	repo.CustomOverlay = &registryv1.CustomOverlay{Environment: map[string]string{"APP_ENV": "production"}}
	if _, err := reg.UpdateRepo(ctx, repo); err != nil {
		panic(err)
	}
	fmt.Println(repo.GetName(), emu.Repo(repo.GetId()).GetCustomOverlay().GetEnvironment())
	fmt.Println(len(emu.BuildReports(repo.GetId())), "build started")
	_ = emu.WriteCounts(os.Stdout)
	// Output:
	// nginx map[APP_ENV:production]
	// 1 build started
	// /chainguard.platform.registry.Registry/ListRepos OK 1
	// /chainguard.platform.registry.Registry/UpdateRepo OK 1
}
