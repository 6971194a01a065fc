package chainguard

import (
	"context"
	"fmt"
	"sort"
	"time"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BuildResult is the outcome of one build.
type BuildResult string

// Build results as the API reports them.
const (
	BuildPending BuildResult = "pending"
	BuildSuccess BuildResult = "success"
	BuildFailure BuildResult = "failure"
)

// Build is one build report, without its log.
type Build struct {
	ID          string
	RepoID      string
	Result      BuildResult
	StartedAt   time.Time
	CompletedAt time.Time // zero while pending
	Digest      string
}

// ListBuilds returns the builds under scopeID (a repo or an organization)
// started at or after since, without logs, oldest first.
func (c *Client) ListBuilds(ctx context.Context, scopeID string, since time.Time) ([]Build, error) {
	reports, err := c.buildReports(ctx, scopeID, since)
	if err != nil {
		return nil, err
	}
	builds := make([]Build, 0, len(reports))
	for _, r := range reports {
		builds = append(builds, buildFromProto(r))
	}
	sort.Slice(builds, func(i, j int) bool {
		if !builds[i].StartedAt.Equal(builds[j].StartedAt) {
			return builds[i].StartedAt.Before(builds[j].StartedAt)
		}
		return builds[i].ID < builds[j].ID
	})
	return builds, nil
}

// buildReports lists the build reports under scopeID started at or after
// since, without logs, in one ListBuildReports call.
func (c *Client) buildReports(ctx context.Context, scopeID string, since time.Time) ([]*registryv1.BuildReport, error) {
	list, err := c.clients.Registry().Registry().ListBuildReports(ctx, &registryv1.BuildReportFilter{
		Uidp:         &commonv1.UIDPFilter{DescendantsOf: scopeID},
		StartedSince: timestamppb.New(since),
		ExcludeLogs:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("listing build reports of %s: %w", scopeID, err)
	}
	return list.GetReports(), nil
}

// BuildLog fetches the log of one build. Logs are heavy, so only the window
// around the build's start is listed with logs.
func (c *Client) BuildLog(ctx context.Context, b Build) (string, error) {
	list, err := c.clients.Registry().Registry().ListBuildReports(ctx, &registryv1.BuildReportFilter{
		Uidp:          &commonv1.UIDPFilter{DescendantsOf: b.RepoID},
		StartedSince:  timestamppb.New(b.StartedAt.Add(-time.Second)),
		StartedBefore: timestamppb.New(b.StartedAt.Add(time.Second)),
	})
	if err != nil {
		return "", fmt.Errorf("reading build log %s: %w", b.ID, err)
	}
	for _, r := range list.GetReports() {
		if r.GetId() == b.ID {
			return r.GetLog(), nil
		}
	}
	return "", fmt.Errorf("reading build log %s: %w", b.ID, ErrNotFound)
}

func buildFromProto(r *registryv1.BuildReport) Build {
	b := Build{
		ID:     r.GetId(),
		RepoID: uidp.Parent(r.GetId()),
		Digest: r.GetDigest(),
	}
	if r.GetStartedAt() != nil {
		b.StartedAt = r.GetStartedAt().AsTime()
	}
	if r.GetCompletedAt() != nil {
		b.CompletedAt = r.GetCompletedAt().AsTime()
	}
	switch r.GetResult() {
	case registryv1.BuildReport_Success:
		b.Result = BuildSuccess
	case registryv1.BuildReport_Failure:
		b.Result = BuildFailure
	default:
		b.Result = BuildPending
	}
	return b
}
