package reconciler

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func snap(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, c := range files {
		m[p] = &fstest.MapFile{Data: []byte(c)}
	}
	return m
}

func TestMapFiles(t *testing.T) {
	d := MapFiles("ca-images-iac", snap(map[string]string{
		"a.yaml":        "contents:\n  packages: [curl]\n",
		"b.yml":         "{}\n",
		"dup.yaml":      "{}\n",
		"dup.yml":       "{}\n",
		"nested/x.yaml": "{}\n",
		"README.md":     "hello",
		".hidden.yaml":  "{}\n",
		"bad.yaml":      "entrypoint: {command: /bin/sh}\n",
	}))
	type row struct {
		File  string
		Valid bool
	}
	got := map[string]row{}
	for name, r := range d.Repos {
		got[name] = row{File: r.File, Valid: r.Err == nil}
	}
	want := map[string]row{
		"a":   {File: "ca-images-iac/a.yaml", Valid: true},
		"b":   {File: "ca-images-iac/b.yml", Valid: true},
		"dup": {File: "ca-images-iac/dup.yaml", Valid: false},
		"bad": {File: "ca-images-iac/bad.yaml", Valid: false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repos (-want +got):\n%s", diff)
	}
	wantIgnored := []store.IgnoredFile{
		{Path: "ca-images-iac/.hidden.yaml", Reason: vocab.IgnoredHidden},
		{Path: "ca-images-iac/README.md", Reason: vocab.IgnoredExtension},
		{Path: "ca-images-iac/nested/x.yaml", Reason: vocab.IgnoredNested},
	}
	if diff := cmp.Diff(wantIgnored, d.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	if got, want := d.Repos["dup"].Err.Error(), `files ca-images-iac/dup.yaml, ca-images-iac/dup.yml all manage repo "dup"; none of them is applied`; got != want {
		t.Errorf("conflict error = %q, want %q", got, want)
	}
	if valid, invalid, ignored := d.Counts(); valid != 2 || invalid != 2 || ignored != 3 {
		t.Errorf("counts = %d/%d/%d, want 2/2/3", valid, invalid, ignored)
	}
}

func TestCompute(t *testing.T) {
	curl := overlay.Overlay{Packages: []string{"curl"}}
	hc, he := overlay.Hash(curl), overlay.Hash(overlay.Overlay{})
	desired := Desired{Revision: "r1", Repos: map[string]DesiredRepo{
		"sync":    {File: "f/sync.yaml", Overlay: curl, Hash: hc},
		"drift":   {File: "f/drift.yaml", Overlay: curl, Hash: hc},
		"clear":   {File: "f/clear.yaml", Hash: he},
		"bad":     {File: "f/bad.yaml", Err: errors.New("f/bad.yaml:1:1: nope"), Hash: "invalid:1"},
		"ghost":   {File: "f/ghost.yaml", Overlay: curl, Hash: hc},
		"plain":   {File: "f/plain.yaml", Overlay: curl, Hash: hc},
		"stalled": {File: "f/stalled.yaml", Overlay: curl, Hash: hc},
		"restart": {File: "f/restart.yaml", Overlay: curl, Hash: hc},
	}}
	live := []chainguard.Repo{
		{ID: "o/1", Name: "sync", CustomAssembly: true, Overlay: overlay.Overlay{Packages: []string{"curl", "curl"}}},
		{ID: "o/2", Name: "drift", CustomAssembly: true, Overlay: overlay.Overlay{Packages: []string{"jq"}}},
		{ID: "o/3", Name: "clear", CustomAssembly: true, Overlay: curl},
		{ID: "o/4", Name: "bad", CustomAssembly: true},
		{ID: "o/5", Name: "plain", CustomAssembly: false},
		{ID: "o/6", Name: "orphan", CustomAssembly: true, Overlay: curl},
		{ID: "o/7", Name: "unmanaged", CustomAssembly: true},
		{ID: "o/8", Name: "stalled", CustomAssembly: true},
		{ID: "o/9", Name: "restart", CustomAssembly: true},
	}
	stalled := map[string]string{"stalled": hc, "restart": "an older file"}
	plan := Compute(desired, live, stalled)
	type row struct {
		Action  vocab.Action
		ID      string
		Stalled bool
		Diff    []string
		Err     bool
	}
	got := map[string]row{}
	var order []string
	for _, c := range plan.Changes {
		order = append(order, c.Repo)
		got[c.Repo] = row{Action: c.Action, ID: c.RepoID, Stalled: c.Stalled, Diff: diffStrings(c.Diff), Err: c.Err != nil}
	}
	want := map[string]row{
		"sync":    {Action: vocab.ActionNoop, ID: "o/1", Diff: []string{}},
		"drift":   {Action: vocab.ActionUpdate, ID: "o/2", Diff: []string{"+ package curl", "- package jq"}},
		"clear":   {Action: vocab.ActionReset, ID: "o/3", Diff: []string{"- package curl"}},
		"bad":     {Action: vocab.ActionInvalid, ID: "o/4", Diff: []string{}, Err: true},
		"ghost":   {Action: vocab.ActionMissing, Diff: []string{}, Err: true},
		"plain":   {Action: vocab.ActionInvalid, ID: "o/5", Diff: []string{}, Err: true},
		"orphan":  {Action: vocab.ActionOrphan, ID: "o/6", Diff: []string{}},
		"stalled": {Action: vocab.ActionUpdate, ID: "o/8", Stalled: true, Diff: []string{"+ package curl"}},
		"restart": {Action: vocab.ActionUpdate, ID: "o/9", Diff: []string{"+ package curl"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bad", "clear", "drift", "ghost", "orphan", "plain", "restart", "stalled", "sync"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if !plan.HasChanges() || !plan.HasErrors() {
		t.Errorf("HasChanges=%v HasErrors=%v, want both", plan.HasChanges(), plan.HasErrors())
	}
	// Pure: the same inputs give the same plan.
	if diff := cmp.Diff(plan, Compute(desired, live, stalled), cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); diff != "" {
		t.Errorf("Compute is not deterministic:\n%s", diff)
	}
}
