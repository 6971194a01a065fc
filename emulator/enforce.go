package emulator

import (
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// Messages of the errors the real service returns, word for word.
const (
	msgNotCustom            = "custom_overlay can only be set for custom images"
	msgCertificates         = "using custom_overlay.certificates is not allowed"
	msgRuntimeRepositories  = "using custom_overlay.runtime_repositories is not allowed"
	msgSyncConfigNotChanged = "sync_config cannot be changed"
)

// checkUpdate is what UpdateRepo enforces before storing next over stored:
// sync_config is echoed exactly, then the overlay rules of checkOverlay.
func checkUpdate(o *org, stored, next *registryv1.Repo) error {
	if !sameSyncConfig(stored.GetSyncConfig(), next.GetSyncConfig()) {
		return status.Error(codes.InvalidArgument, msgSyncConfigNotChanged)
	}
	return checkOverlay(o, stored.GetSyncConfig(), next.GetCustomOverlay())
}

// checkOverlay enforces, in this order: only Custom Assembly repos (whose
// sync_config.apko_overlay is set) take a non-empty overlay; certificates
// and runtime repositories or keyrings need the organization's
// entitlements; and overlay.ServerRules.
func checkOverlay(o *org, sc *registryv1.SyncConfig, co *registryv1.CustomOverlay) error {
	ov := overlaypb.FromProto(co)
	if isEmptyOverlay(ov) {
		return nil
	}
	if sc.GetApkoOverlay() == "" {
		return status.Error(codes.PermissionDenied, msgNotCustom)
	}
	entitled := func(e string) bool { return o != nil && o.entitlements[e] }
	if (len(ov.Certificates) > 0 || len(ov.CertificateProviders) > 0) && !entitled(EntitlementCertificates) {
		return status.Error(codes.InvalidArgument, msgCertificates)
	}
	if (len(ov.RuntimeRepositories) > 0 || len(ov.RuntimeKeyring) > 0) && !entitled(EntitlementRuntimeRepositories) {
		return status.Error(codes.PermissionDenied, msgRuntimeRepositories)
	}
	if problems := overlay.ServerRules(ov); len(problems) > 0 {
		return status.Error(codes.InvalidArgument, problems.Error())
	}
	return nil
}

// sameSyncConfig compares exactly, timestamps to the nanosecond; an absent
// sync_config equals an empty one.
func sameSyncConfig(a, b *registryv1.SyncConfig) bool {
	if a == nil {
		a = &registryv1.SyncConfig{}
	}
	if b == nil {
		b = &registryv1.SyncConfig{}
	}
	return proto.Equal(a, b)
}

// isEmptyOverlay reports whether o sets nothing: nil, {} and all-empty
// sections are the same overlay.
func isEmptyOverlay(o overlay.Overlay) bool {
	return len(o.Packages) == 0 && len(o.RuntimeRepositories) == 0 && len(o.RuntimeKeyring) == 0 &&
		len(o.Environment) == 0 && len(o.Annotations) == 0 && o.Accounts.IsZero() &&
		len(o.Certificates) == 0 && len(o.CertificateProviders) == 0
}
