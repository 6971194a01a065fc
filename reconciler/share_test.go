package reconciler_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// TestInSyncOverlaysAreHeldOnce: once the project's example files are
// written (every section the format has but runtime repositories: packages,
// environment, annotations, accounts, certificates), the next cycle's list
// decodes each written repo again and keeps the file's overlay in place of
// the decoded copy, so each overlay in sync is held once; a repo the
// Console changed keeps its own, and its drift is still seen and put back.
func TestInSyncOverlaysAreHeldOnce(t *testing.T) {
	w := newWorld(t)
	files := map[string]string{}
	matches, err := filepath.Glob("../examples/ca-images-iac/*.yaml")
	if err != nil || len(matches) < 5 {
		t.Fatalf("examples: %v, %v", matches, err)
	}
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if strings.HasPrefix(name, ".") {
			continue // the settings file
		}
		files["ca-images-iac/"+name] = string(b)
		w.customRepo(strings.TrimSuffix(name, ".yaml"), overlay.Overlay{})
	}
	w.git.commit(files)
	h := w.reconciler(vocab.ModeApply, nil, nil)
	ctx := t.Context()

	if rep := h.r.RunOnce(ctx, vocab.TriggerStart); len(rep.Writes) != len(files) {
		t.Fatalf("first cycle wrote %d repos, want %d: %v", len(rep.Writes), len(files), rep.Err)
	}
	before := w.client.ListStats()
	if rep := h.r.RunOnce(ctx, vocab.TriggerInterval); len(rep.Writes) != 0 {
		t.Fatalf("second cycle wrote %v", rep.Writes)
	}
	after := w.client.ListStats()
	if d, s := after.Decoded-before.Decoded, after.Shared-before.Shared; d != int64(len(files)) || s != int64(len(files)) {
		t.Errorf("after the writes: %d decoded, %d shared; want %d and %d (every example in sync)", d, s, len(files), len(files))
	}

	// A Console edit: decoded again, different, so not shared; corrected.
	drifted := w.live("python")
	drifted.Packages = append(drifted.Packages, "console-extra")
	w.consoleEdit("python", drifted)
	before = w.client.ListStats()
	rep := h.r.RunOnce(ctx, vocab.TriggerInterval)
	after = w.client.ListStats()
	if _, ok := rep.Writes["python"]; !ok || len(rep.Writes) != 1 {
		t.Errorf("the Console edit: writes %v, want python put back", rep.Writes)
	}
	if d, s := after.Decoded-before.Decoded, after.Shared-before.Shared; d != 1 || s != 0 {
		t.Errorf("the Console edit: %d decoded, %d shared; want 1 and 0", d, s)
	}
	before = w.client.ListStats()
	h.r.RunOnce(ctx, vocab.TriggerInterval)
	after = w.client.ListStats()
	if d, s := after.Decoded-before.Decoded, after.Shared-before.Shared; d != 1 || s != 1 {
		t.Errorf("after putting it back: %d decoded, %d shared; want 1 and 1", d, s)
	}
}
