package chainguard_test

import (
	"fmt"
	"strings"
	"testing"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// A Console edit of another field of the repo, made after our write read
// the repo and before the write is sent, survives a v2 write (a PATCH of the
// overlay paths only) and is overwritten by a v1 write (a full PUT of what
// was read): the window the v2 decision closes. The edit is made from the
// call observer, which runs when the read returns, before the write goes.
func TestConsoleEditBetweenReadAndWrite(t *testing.T) {
	for _, tc := range []struct {
		name        string
		noV2        bool
		read        string // the observer's name of the write's read
		description string // after both writes
	}{
		{"registry v2", false, "ReposService.GetRepo", "edited in the Console"},
		{"registry v1", true, "Registry.ListRepos", "before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, url, orgID := startOrg(t, emulator.Options{DisableRegistryV2: tc.noV2})
			in := customRepo("a")
			in.Description = "before"
			r := emu.CreateRepo(orgID, in)
			ctx := t.Context()
			console := consoleClient(t, url)
			edits := 0
			hook := &hookObserver{after: func(method string) {
				if method != tc.read || edits > 0 {
					return
				}
				edits++
				list, err := console.ListRepos(ctx, &registryv1.RepoFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: orgID}})
				if err != nil || len(list.GetItems()) != 1 {
					t.Errorf("Console read: %v, %v", list, err)
					return
				}
				edited := list.GetItems()[0]
				edited.Description = "edited in the Console"
				if _, err := console.UpdateRepo(ctx, edited); err != nil {
					t.Errorf("Console edit: %v", err)
				}
			}}
			c := dial(t, chainguard.Config{URL: url, Observer: hook})
			if _, err := c.WriteOverlay(ctx, r.GetId(), overlay.Overlay{Packages: []string{"curl"}}); err != nil {
				t.Fatal(err)
			}
			if edits != 1 {
				t.Fatalf("the Console edited %d times, want once between the read and the write", edits)
			}
			stored := emu.Repo(r.GetId())
			if stored.GetDescription() != tc.description {
				t.Errorf("description = %q, want %q", stored.GetDescription(), tc.description)
			}
			if got := storedOverlay(emu, r.GetId()); !overlay.Equal(got, overlay.Overlay{Packages: []string{"curl"}}) {
				t.Errorf("overlay = %+v", got)
			}
		})
	}
}

type hookObserver struct{ after func(method string) }

func (h *hookObserver) ObserveAPIRequest(method, _ string, _ float64) { h.after(method) }

func consoleClient(t *testing.T, url string) registryv1.RegistryClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(fmt.Errorf("dialing the emulator: %w", err))
	}
	t.Cleanup(func() { _ = conn.Close() })
	return registryv1.NewRegistryClient(conn)
}
