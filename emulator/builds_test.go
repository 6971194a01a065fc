package emulator_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"chainguard.dev/sdk/uidp"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func setPackages(t *testing.T, emu *emulator.Server, id string, pkgs ...string) {
	t.Helper()
	if err := emu.ConsoleEdit(id, &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: pkgs}}); err != nil {
		t.Fatal(err)
	}
}

func results(rs []*registryv1.BuildReport) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetResult().String())
	}
	sort.Strings(out)
	return out
}

func TestBuildSucceeds(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{BuildDuration: 50 * time.Millisecond})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()

	r := readRepo(t, c, id)
	r.CustomOverlay = &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"curl"}}}
	if _, err := c.Registry().Registry().UpdateRepo(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	pending := reports(t, c, id, true)
	if diff := cmp.Diff([]string{"Unknown", "Unknown"}, results(pending)); diff != "" {
		t.Fatalf("right after the update, one pending build per active tag (-want +got):\n%s", diff)
	}
	for _, b := range pending {
		if uidp.Parent(b.GetId()) != id || !uidp.Valid(b.GetId()) {
			t.Errorf("build id %q is not a child UIDP of the repo %q", b.GetId(), id)
		}
		if b.GetStartedAt() == nil || b.GetCompletedAt() != nil || b.GetDigest() != "" {
			t.Errorf("pending build = %v", b)
		}
	}
	eventually(t, "builds to succeed", func() bool {
		return cmp.Equal([]string{"Success", "Success"}, results(reports(t, c, id, true)))
	})
	done := reports(t, c, id, false)
	for _, b := range done {
		if !strings.HasPrefix(b.GetDigest(), "sha256:") || len(b.GetDigest()) != 71 {
			t.Errorf("digest = %q", b.GetDigest())
		}
		if b.GetCompletedAt() == nil || b.GetCompletedAt().AsTime().Before(b.GetStartedAt().AsTime()) {
			t.Errorf("completed_at %v, started_at %v", b.GetCompletedAt(), b.GetStartedAt())
		}
		if b.GetLog() == "" || !strings.Contains(b.GetConfig(), `"packages":["curl"]`) {
			t.Errorf("log %q, config %q", b.GetLog(), b.GetConfig())
		}
	}
	for _, b := range reports(t, c, id, true) {
		if b.GetLog() != "" {
			t.Errorf("exclude_logs returned a log: %q", b.GetLog())
		}
	}
	// The admin view has the same reports, logs included.
	admin := emu.BuildReports(id)
	sort.Slice(done, func(i, j int) bool { return done[i].GetId() < done[j].GetId() })
	sort.Slice(admin, func(i, j int) bool { return admin[i].GetId() < admin[j].GetId() })
	if diff := cmp.Diff(done, admin, protocmp.Transform()); diff != "" {
		t.Errorf("BuildReports differs from ListBuildReports (-api +admin):\n%s", diff)
	}
}

func TestBuildWithoutActiveTagsBuildsLatest(t *testing.T) {
	emu, _ := start(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	r := customRepo("nginx")
	r.ActiveTags = nil
	id := emu.CreateRepo(org, r).GetId()
	setPackages(t, emu, id, "curl")
	eventually(t, "the build to finish", func() bool {
		b := emu.BuildReports(id)
		return len(b) == 1 && b[0].GetCompletedAt() != nil
	})
	b := emu.BuildReports(id)
	if len(b) != 1 || !strings.Contains(b[0].GetLog(), "Building nginx:latest ") {
		t.Errorf("builds = %v, want one of latest", b)
	}
}

func TestBuildFailsOnPackageMissingFromCatalog(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{BuildDuration: 20 * time.Millisecond})
	org := emu.CreateOrg("acme.example")
	if err := emu.SetCatalog(org, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	setPackages(t, emu, id, "curl", "nosuch=1.0")
	eventually(t, "builds to fail", func() bool {
		return cmp.Equal([]string{"Failure", "Failure"}, results(reports(t, c, id, true)))
	})
	for _, b := range reports(t, c, id, false) {
		lines := strings.Split(strings.TrimSpace(b.GetLog()), "\n")
		if tail := strings.Join(lines[len(lines)-3:], "\n"); tail != "ERROR: unable to select packages:\n  nosuch (no such package):\n    required by: world[nosuch=1.0]" {
			t.Errorf("log tail = %q", tail)
		}
		if b.GetDigest() != "" {
			t.Errorf("failed build has digest %q", b.GetDigest())
		}
	}
	status, err := c.Registry().Registry().GetBuildStatus(t.Context(), &registryv1.BuildReportFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: org}})
	if err != nil {
		t.Fatal(err)
	}
	want := &registryv1.BuildStatus{Failures: []*registryv1.BuildStatus_Failures{{RepoId: id, Total: 2}}}
	if diff := cmp.Diff(want, status, protocmp.Transform()); diff != "" {
		t.Errorf("GetBuildStatus (-want +got):\n%s", diff)
	}

	// Without a catalog every package resolves.
	if err := emu.SetCatalog(org, nil); err != nil {
		t.Fatal(err)
	}
	if err := emu.TriggerRebuild(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rebuilds to succeed", func() bool {
		return cmp.Equal([]string{"Failure", "Failure", "Success", "Success"}, results(reports(t, c, id, true)))
	})
}

func TestBuildHangsUntilTimeout(t *testing.T) {
	emu, url := start(t, emulator.Options{
		BuildDuration: 10 * time.Millisecond,
		BuildTimeout:  300 * time.Millisecond,
		HangPackages:  []string{"slow"},
	})
	c := dial(t, url, "")
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	quick := emu.CreateRepo(org, customRepo("quick")).GetId()
	setPackages(t, emu, id, "curl", "slow")
	setPackages(t, emu, quick, "curl")
	eventually(t, "the quick builds", func() bool {
		return cmp.Equal([]string{"Success", "Success"}, results(reports(t, c, quick, true)))
	})
	if got := results(reports(t, c, id, true)); !cmp.Equal([]string{"Unknown", "Unknown"}, got) {
		t.Fatalf("slow builds = %v, want still pending", got)
	}
	eventually(t, "the slow builds to time out", func() bool {
		return cmp.Equal([]string{"Failure", "Failure"}, results(reports(t, c, id, true)))
	})
	for _, b := range emu.BuildReports(id) {
		if !strings.HasSuffix(b.GetLog(), "ERROR: build timed out after 300ms\n") {
			t.Errorf("log = %q", b.GetLog())
		}
	}

	// So do repos named to hang.
	hangRepo := emu.CreateRepo(org, customRepo("hangs")).GetId()
	emu.SetHangRepos("hangs")
	setPackages(t, emu, hangRepo, "curl")

	// A package added later hangs too.
	emu.SetHangPackages("later")
	setPackages(t, emu, quick, "later")
	time.Sleep(50 * time.Millisecond)
	if got := results(emu.BuildReports(quick)); !cmp.Equal([]string{"Success", "Success", "Unknown", "Unknown"}, got) {
		t.Errorf("builds with a later hang package = %v", got)
	}
	if got := results(emu.BuildReports(hangRepo)); !cmp.Equal([]string{"Unknown", "Unknown"}, got) {
		t.Errorf("builds of a hanging repo = %v", got)
	}
}

func TestTriggerRebuild(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	if n := len(reports(t, c, org, true)); n != 0 {
		t.Fatalf("%d reports before any update", n)
	}
	if err := emu.TriggerRebuild(id); err != nil {
		t.Fatal(err)
	}
	if n := len(reports(t, c, org, true)); n != 2 {
		t.Errorf("%d reports after TriggerRebuild, want 2", n)
	}
	if err := emu.TriggerRebuild(org + "/0000000000000000"); err == nil || err.Error() != "rebuilding "+org+"/0000000000000000: repo not found" {
		t.Errorf("TriggerRebuild of an unknown repo = %v", err)
	}
}

func TestListBuildReportsWindow(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	emu, c := startAndDial(t, emulator.Options{Now: clock.Now, BuildDuration: time.Hour})
	org := emu.CreateOrg("acme.example")
	a := emu.CreateRepo(org, &registryv1.Repo{Name: "a", ActiveTags: []string{"latest"}}).GetId()
	b := emu.CreateRepo(org, &registryv1.Repo{Name: "b", ActiveTags: []string{"latest"}}).GetId()
	other := emu.CreateRepo(emu.CreateOrg("other"), &registryv1.Repo{Name: "a"}).GetId()

	t0 := clock.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(emu.TriggerRebuild(a)) // t0
	clock.Advance(time.Hour)
	must(emu.TriggerRebuild(b)) // t0+1h
	clock.Advance(time.Hour)
	must(emu.TriggerRebuild(a)) // t0+2h
	must(emu.TriggerRebuild(other))

	started := func(f *registryv1.BuildReportFilter) []time.Duration {
		t.Helper()
		list, err := c.Registry().Registry().ListBuildReports(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Duration
		for _, r := range list.GetReports() {
			out = append(out, r.GetStartedAt().AsTime().Sub(t0))
		}
		return out
	}
	scope := &commonv1.UIDPFilter{DescendantsOf: org}
	for _, tc := range []struct {
		name   string
		filter *registryv1.BuildReportFilter
		want   []time.Duration // newest first
	}{
		{"org, default window", &registryv1.BuildReportFilter{Uidp: scope}, []time.Duration{2 * time.Hour, time.Hour, 0}},
		{"repo", &registryv1.BuildReportFilter{Uidp: &commonv1.UIDPFilter{DescendantsOf: a}}, []time.Duration{2 * time.Hour, 0}},
		{"since is inclusive", &registryv1.BuildReportFilter{Uidp: scope, StartedSince: timestamppb.New(t0.Add(time.Hour))}, []time.Duration{2 * time.Hour, time.Hour}},
		{"before is exclusive", &registryv1.BuildReportFilter{Uidp: scope, StartedBefore: timestamppb.New(t0.Add(time.Hour))}, []time.Duration{0}},
		{"page size", &registryv1.BuildReportFilter{Uidp: scope, PageSize: 2}, []time.Duration{2 * time.Hour, time.Hour}},
	} {
		if diff := cmp.Diff(tc.want, started(tc.filter)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	// The default window is the last day; reports older than a day are gone.
	clock.Advance(23*time.Hour + time.Minute) // t0+25h01m
	if diff := cmp.Diff([]time.Duration{2 * time.Hour}, started(&registryv1.BuildReportFilter{Uidp: scope})); diff != "" {
		t.Errorf("a day later (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Hour}, started(&registryv1.BuildReportFilter{Uidp: scope, StartedSince: timestamppb.New(t0)})); diff != "" {
		t.Errorf("a day later, since t0 (-want +got):\n%s", diff)
	}
}
