package main

import (
	"io"
	"testing"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// plan is wired without a build watcher, and its cycle reads only: no build
// report is listed, nothing is written.
func TestPlanWiresNoBuildWatcher(t *testing.T) {
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	f.commit(map[string]string{"ca-images-iac/a.yaml": "contents:\n  packages: [curl]\n"})

	o := &options{gitURL: f.dir, org: "acme.example", api: f.url, path: "ca-images-iac", cacheDir: t.TempDir(),
		apiTimeout: 1e10, gitTimeout: 1e10, log: logOptions{format: "json", level: "error"}}
	for _, c := range []struct {
		followBuilds bool
		want         bool
	}{{false, false}, {true, true}} {
		d, err := wire(t.Context(), o, io.Discard, f.getenv, c.followBuilds)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.builds != nil; got != c.want {
			t.Errorf("wire(followBuilds=%v): build watcher wired = %v", c.followBuilds, got)
		}
		d.close()
	}

	code, stdout, stderr := f.run("plan")
	if code != 2 {
		t.Fatalf("plan exit %d, want 2 (drift)\n%s\n%s", code, stdout, stderr)
	}
	for _, m := range []string{registryv1.Registry_ListBuildReports_FullMethodName, registryv2.ReposService_UpdateRepo_FullMethodName, registryv1.Registry_UpdateRepo_FullMethodName} {
		if n := f.emu.Calls(m); n != 0 {
			t.Errorf("plan called %s %d times", m, n)
		}
	}
}
