package chainguard_test

import (
	"fmt"
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// ListRepos decodes a repo only when it changed since the previous list:
// the emulator, like the API, sends maps in random order, and an unchanged
// repo is still recognised; a Console edit, a write and a new unknown field
// are each decoded once, and every list returns what the API holds.
func TestListReposDecodesOnlyWhatChanged(t *testing.T) {
	emu, url, orgID := startOrg(t, emulator.Options{})
	const n = 30
	want := map[string]overlay.Overlay{}
	ids := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("repo-%02d", i)
		r := customRepo(name)
		env := map[string]string{"A": "1", "B": "2", "C": "3", "D": "4", "E": "5", "N": fmt.Sprint(i)}
		r.CustomOverlay = &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"curl"}}, Environment: env}
		ids[name] = emu.CreateRepo(orgID, r).GetId()
		want[name] = overlay.Overlay{Packages: []string{"curl"}, Environment: env}
	}
	c := dial(t, chainguard.Config{URL: url})
	ctx := t.Context()
	list := func(step string, wantDecoded int64, wantUnknown map[string]int) {
		t.Helper()
		before := c.ListStats()
		repos, err := c.ListRepos(ctx, orgID)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		got := map[string]overlay.Overlay{}
		for _, r := range repos {
			got[r.Name] = r.Overlay
			if r.UnknownFields != wantUnknown[r.Name] {
				t.Errorf("%s: %s has %d unknown fields, want %d", step, r.Name, r.UnknownFields, wantUnknown[r.Name])
			}
			if r.ID != ids[r.Name] {
				t.Errorf("%s: %s has id %q, want %q", step, r.Name, r.ID, ids[r.Name])
			}
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(overlay.Equal)); diff != "" {
			t.Errorf("%s: overlays (-want +got):\n%s", step, diff)
		}
		after := c.ListStats()
		if d, r := after.Decoded-before.Decoded, after.Reused-before.Reused; d != wantDecoded || r != n-wantDecoded {
			t.Errorf("%s: decoded %d, reused %d; want %d and %d", step, d, r, wantDecoded, n-wantDecoded)
		}
	}
	list("first list", n, nil)
	for i := range 10 {
		list(fmt.Sprintf("unchanged %d", i), 0, nil)
	}

	edited := &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"bash"}}}
	if err := emu.ConsoleEdit(ids["repo-03"], edited); err != nil {
		t.Fatal(err)
	}
	want["repo-03"] = overlay.Overlay{Packages: []string{"bash"}}
	list("after a Console edit", 1, nil)
	list("unchanged after the edit", 0, nil)

	written := overlay.Overlay{Packages: []string{"jq"}, Annotations: map[string]string{"x": "1", "y": "2"}}
	if _, err := c.WriteOverlay(ctx, ids["repo-04"], written); err != nil {
		t.Fatal(err)
	}
	want["repo-04"] = written
	list("after a write", 1, nil)

	withUnknown := &registryv1.CustomOverlay{Contents: &registryv1.ImageContents{Packages: []string{"bash"}}}
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 20, protowire.VarintType), 1))
	if err := emu.ConsoleEdit(ids["repo-03"], withUnknown); err != nil {
		t.Fatal(err)
	}
	list("after a field this version does not know appeared", 1, map[string]int{"repo-03": 1})
	list("unchanged with the unknown field", 0, map[string]int{"repo-03": 1})
}
