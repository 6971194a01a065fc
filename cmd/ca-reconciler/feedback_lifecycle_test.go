package main

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/commitstatus"
	"github.com/ca-reconciler/ca-reconciler/notify"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// lifecyclePlan is the real plan (reconciler.MapFiles, then ComputeWith) of
// a folder's files against live repos, each a custom image with the
// packages given.
func lifecyclePlan(t *testing.T, files map[string]string, ever []string, live map[string][]string, pol reconciler.Policy) reconciler.Plan {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	d := reconciler.MapFiles("ca-images-iac", fsys)
	d.Revision, d.EverPaths = "r1", ever
	var repos []chainguard.Repo
	for name, pkgs := range live {
		repos = append(repos, chainguard.Repo{ID: "org/" + name, Name: name, CustomAssembly: true, Overlay: overlay.Overlay{Packages: pkgs}})
	}
	return reconciler.ComputeWith(d, repos, nil, pol)
}

const (
	curlFile   = "contents:\n  packages: [curl]\n"
	jqFile     = "contents:\n  packages: [jq]\n"
	badSetting = "repos:\n  web:\n    suspend: yes please\n"
)

// TestGuardRefusals: one message per guard for the organization, naming
// the repos it holds back, with the reconciler's reason; nothing when only
// suspended repos are held (a choice, not a refusal).
func TestGuardRefusals(t *testing.T) {
	curl := []string{"curl"}
	for _, tc := range []struct {
		name string
		plan reconciler.Plan
		want map[vocab.HoldReason]notify.Event
	}{
		{
			name: "more prunes than the limit",
			plan: lifecyclePlan(t, map[string]string{"keep.yaml": curlFile}, []string{"a.yaml", "b.yml", "keep.yaml"},
				map[string][]string{"a": curl, "b": curl, "keep": curl, "console": curl}, reconciler.Policy{Prune: true, PruneLimit: 1}),
			want: map[vocab.HoldReason]notify.Event{vocab.HoldPruneLimit: {Kind: notify.KindRefused, Org: "acme.com", Action: "prune", Held: "prune_limit",
				Repos: []string{"a", "b"}, Reason: "2 repos would be pruned, more than --prune-limit 1: none is pruned", URL: "https://cd.example.com"}},
		},
		{
			name: "no valid file",
			plan: lifecyclePlan(t, map[string]string{"keep.yaml": "contents: [\n"}, []string{"a.yaml", "keep.yaml"},
				map[string][]string{"a": curl, "keep": curl}, reconciler.Policy{Prune: true}),
			want: map[vocab.HoldReason]notify.Event{vocab.HoldNoFiles: {Kind: notify.KindRefused, Org: "acme.com", Action: "prune", Held: "no_files",
				Repos:  []string{"a"},
				Reason: "ca-images-iac holds no valid file: nothing is pruned while it holds none (1 repo(s) would be)", URL: "https://cd.example.com"}},
		},
		{
			name: "an invalid settings file holds every write: an update and a prune",
			plan: lifecyclePlan(t, map[string]string{".ca-reconciler.yaml": badSetting, "web.yaml": jqFile, "keep.yaml": curlFile},
				[]string{"keep.yaml", "old.yaml", "web.yaml"}, map[string][]string{"web": curl, "old": curl, "keep": curl}, reconciler.Policy{Prune: true}),
			want: map[vocab.HoldReason]notify.Event{vocab.HoldSettingsInvalid: {Kind: notify.KindRefused, Org: "acme.com", Held: "settings_invalid",
				Repos:    []string{"old", "web"},
				Reason:   "ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed",
				Problems: []string{"ca-images-iac/.ca-reconciler.yaml:3:14: repos.web.suspend: expected true or false, got the string \"yes please\""},
				URL:      "https://cd.example.com"}},
		},
		{
			name: "suspended and in sync: no refusal",
			plan: lifecyclePlan(t, map[string]string{".ca-reconciler.yaml": "repos:\n  web:\n    suspend: true\n", "web.yaml": jqFile, "keep.yaml": curlFile},
				nil, map[string][]string{"web": curl, "keep": curl}, reconciler.Policy{}),
			want: map[vocab.HoldReason]notify.Event{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := guardRefusals("acme.com", "https://cd.example.com", tc.plan)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("guardRefusals (-want +got):\n%s", diff)
			}
			// The same plan, the next cycle: the same messages (the
			// notifier sends them once).
			if diff := cmp.Diff(got, guardRefusals("acme.com", "https://cd.example.com", tc.plan)); diff != "" {
				t.Errorf("not stable across cycles:\n%s", diff)
			}
		})
	}
}

// TestCycleRepos: what the commit status is told of a cycle's lifecycle:
// creates written with the new repo's id, refused by the service (for
// good, or recently: the plan's SourceRefused) or failing for now; prunes
// refused by a guard or the service; writes held back by an invalid
// settings file, after the file itself.
func TestCycleRepos(t *testing.T) {
	curl := []string{"curl"}
	settings := map[string]string{".ca-reconciler.yaml": "repos:\n  custom-node:\n    source: node\n", "custom-node.yaml": curlFile, "keep.yaml": curlFile}
	create := lifecyclePlan(t, settings, nil, map[string][]string{"keep": curl}, reconciler.Policy{})
	denied := status.Error(codes.PermissionDenied, "not allowed")
	refusedSource := lifecyclePlan(t, settings, nil, map[string][]string{"keep": curl}, reconciler.Policy{})
	for i := range refusedSource.Changes {
		if c := &refusedSource.Changes[i]; c.Repo == "custom-node" {
			// what the plan holds while the service's refusal is recent
			c.Action, c.SourceRefused, c.Err, c.Diff = vocab.ActionInvalid, true, errors.New("refused at the source's line"), nil
		}
	}
	prune := lifecyclePlan(t, map[string]string{"keep.yaml": curlFile}, []string{"a.yaml", "keep.yaml"}, map[string][]string{"a": curl, "keep": curl}, reconciler.Policy{Prune: true})
	for _, tc := range []struct {
		name string
		rep  reconciler.Report
		want []commitstatus.CycleRepo
	}{
		{"a create, written", reconciler.Report{Plan: create, Writes: map[string]reconciler.WriteResult{"custom-node": {Converged: true, RepoID: "org/new", Attempts: 1}}},
			[]commitstatus.CycleRepo{{Name: "custom-node", ID: "org/new", Drifted: true, Written: true}}},
		{"a create, detect mode", reconciler.Report{Plan: create},
			[]commitstatus.CycleRepo{{Name: "custom-node", Drifted: true}}},
		{"a create the service refuses", reconciler.Report{Plan: create, Writes: map[string]reconciler.WriteResult{"custom-node": {Err: denied, Attempts: 1}}},
			[]commitstatus.CycleRepo{{Name: "custom-node", Drifted: true, Problem: commitstatus.ProblemCreateRefused}}},
		{"a create the API cannot take now", reconciler.Report{Plan: create, Writes: map[string]reconciler.WriteResult{"custom-node": {Err: denied, Transient: true, Attempts: 4}}},
			[]commitstatus.CycleRepo{{Name: "custom-node", Drifted: true, Problem: commitstatus.ProblemWriteFailed}}},
		{"a create whose source was refused recently", reconciler.Report{Plan: refusedSource},
			[]commitstatus.CycleRepo{{Name: "custom-node", Problem: commitstatus.ProblemCreateRefused}}},
		{"a prune, written", reconciler.Report{Plan: prune, Writes: map[string]reconciler.WriteResult{"a": {Converged: true, RepoID: "org/a", Attempts: 1}}},
			[]commitstatus.CycleRepo{{Name: "a", ID: "org/a", Drifted: true, Written: true}}},
		{"a prune the service refuses", reconciler.Report{Plan: prune, Writes: map[string]reconciler.WriteResult{"a": {Err: denied, Attempts: 1}}},
			[]commitstatus.CycleRepo{{Name: "a", ID: "org/a", Drifted: true, Problem: commitstatus.ProblemPruneRefused}}},
		{"prunes refused by the limit", reconciler.Report{Plan: lifecyclePlan(t, map[string]string{"keep.yaml": curlFile}, []string{"a.yaml", "b.yaml", "keep.yaml"},
			map[string][]string{"a": curl, "b": curl, "keep": curl}, reconciler.Policy{Prune: true, PruneLimit: 1})},
			[]commitstatus.CycleRepo{{Name: "a", ID: "org/a", Drifted: true, Problem: commitstatus.ProblemPruneRefused}, {Name: "b", ID: "org/b", Drifted: true, Problem: commitstatus.ProblemPruneRefused}}},
		{"an invalid settings file", reconciler.Report{Plan: lifecyclePlan(t, map[string]string{".ca-reconciler.yaml": badSetting, "web.yaml": jqFile, "keep.yaml": curlFile},
			nil, map[string][]string{"web": curl, "keep": curl}, reconciler.Policy{})},
			[]commitstatus.CycleRepo{{Name: "ca-images-iac/.ca-reconciler.yaml", Problem: commitstatus.ProblemInvalid}, {Name: "web", ID: "org/web", Drifted: true, Problem: commitstatus.ProblemHeld}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cycleRepos(tc.rep)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cycleRepos (-want +got):\n%s", diff)
			}
		})
	}
}
