package chainguard_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func TestCreateRepoNeverReplaces(t *testing.T) {
	emu, url := startEmulator(t, emulator.Options{})
	orgID := emu.CreateOrg("acme.example")
	existing := emu.CreateRepo(orgID, customRepo("taken"))
	c := dial(t, chainguard.Config{URL: url})
	ctx := ctxT(t)

	_, err := c.CreateRepo(ctx, orgID, "taken", "node", overlay.Overlay{})
	if !errors.Is(err, chainguard.ErrExists) || chainguard.Code(err) != codes.AlreadyExists || chainguard.Retryable(err) {
		t.Errorf("CreateRepo(taken) = %v, want a permanent ErrExists", err)
	}
	if got := emu.Repo(existing.GetId()); got.GetSyncConfig().GetSource() != "" {
		t.Errorf("the existing repo was replaced: %v", got)
	}
	if _, err := c.CreateRepo(ctx, orgID, "x", "", overlay.Overlay{}); err == nil || err.Error() != "creating repo x in "+orgID+": no source given" {
		t.Errorf("CreateRepo without a source = %v", err)
	}
}
