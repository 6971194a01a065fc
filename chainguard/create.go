package chainguard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// ErrExists is returned (wrapped) by CreateRepo when the organization
// already has a repo of that name.
var ErrExists = errors.New("repo already exists")

// ErrSourceRefused is returned (wrapped) by CreateRepo when the service
// refuses the source: it does not exist, or the organization is not entitled
// to it. It is permanent, and about the settings line that names the source,
// not about the overlay.
var ErrSourceRefused = errors.New("source refused")

// CreateRepo creates the Custom Assembly repo name in the organization,
// syncing from source (a repo id, a catalog name such as "chainguard/node",
// an image reference, or a repo name of the organization, as the service
// resolves it), with the overlay o. It is what Chainguard's Terraform
// provider does on its custom-overlay branch: one v1 CreateRepo with
// parent_id, the repo's name, sync_config.source and custom_overlay; the
// service completes sync_config (apko_overlay, expiration) and starts the
// new repo's builds.
//
// It never replaces a repo: prevent_existing is set, and a name that is
// taken fails with ErrExists. A source the service refuses fails with
// ErrSourceRefused; the service says so with NotFound, PermissionDenied or
// InvalidArgument and a message about the source, which is how the two are
// told apart from a refused overlay (the same codes, about custom_overlay).
func (c *Client) CreateRepo(ctx context.Context, orgID, name, source string, o overlay.Overlay) (Repo, error) {
	if source == "" {
		return Repo{}, fmt.Errorf("creating repo %s in %s: no source given", name, orgID)
	}
	created, err := c.clients.Registry().Registry().CreateRepo(ctx, &registryv1.CreateRepoRequest{
		ParentId: orgID,
		Repo: &registryv1.Repo{
			Name:          name,
			SyncConfig:    &registryv1.SyncConfig{Source: source},
			CustomOverlay: overlaypb.ToProto(o),
		},
		PreventExisting: true,
	})
	if err != nil {
		return Repo{}, fmt.Errorf("creating repo %s from %s in %s: %w", name, source, orgID, classifyCreate(err))
	}
	return fromProto(created), nil
}

func classifyCreate(err error) error {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return err
	}
	switch se.GRPCStatus().Code() {
	case codes.AlreadyExists:
		return fmt.Errorf("%w: %w", ErrExists, err)
	case codes.NotFound, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition:
		msg := se.GRPCStatus().Message()
		if strings.Contains(msg, "source") && !strings.Contains(msg, "custom_overlay") {
			return fmt.Errorf("%w: %w", ErrSourceRefused, err)
		}
	}
	return err
}
