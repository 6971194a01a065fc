package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
)

// seriesByRepo scrapes /metrics over HTTP and returns, per repo label, the
// series that carry it ("family{label=value,...}"), sorted.
func seriesByRepo(t *testing.T, addr string) (map[string][]string, int) {
	t.Helper()
	body, code := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	out := map[string][]string{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			repo, other := "", []string{}
			for _, l := range m.GetLabel() {
				if l.GetName() == "repo" {
					repo = l.GetValue()
					continue
				}
				other = append(other, l.GetName()+"="+l.GetValue())
			}
			if repo != "" {
				out[repo] = append(out[repo], fmt.Sprintf("%s{%s}", name, strings.Join(other, ",")))
			}
		}
	}
	for _, s := range out {
		sort.Strings(s)
	}
	return out, len(body)
}

// startFollowingBuilds starts the daemon (the run command) on the
// fixture, cycling and polling builds every second, without the package
// check: the failed builds these tests cause are ones it would refuse.
func (f *fixture) startFollowingBuilds() *background {
	f.t.Helper()
	return startDaemon(f.t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", f.t.TempDir(),
		"--interval", "1s", "--build-poll-interval", "1s", "--package-check=false"}, f.getenv)
}

// TestSeriesPerRepo runs the daemon through every kind of repo (in sync
// from the start, written, a failed build, stalled, invalid, missing,
// orphan) and counts each repo's series on a real scrape: none has more
// than metrics.SeriesPerRepo, and a repo in sync that never needed a write
// has exactly one.
func TestSeriesPerRepo(t *testing.T) {
	f := newFixture(t)
	if err := f.emu.SetCatalog(f.orgID, []string{"curl", "jq"}); err != nil {
		t.Fatal(err)
	}
	f.repo("quiet", overlay.Overlay{Packages: []string{"curl"}})
	f.repo("written", overlay.Overlay{})
	f.repo("broken", overlay.Overlay{})
	f.repo("stuck", overlay.Overlay{})
	f.repo("bad", overlay.Overlay{})
	f.repo("orphan", overlay.Overlay{Packages: []string{"jq"}})
	// the lifecycle's: a suspended, drifted repo and one created from a source
	f.repo("frozen", overlay.Overlay{Packages: []string{"jq"}})
	if _, err := f.emu.SetSourceImages(f.orgID, "node"); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{
		"ca-images-iac/frozen.yaml":         "contents:\n  packages: [curl]\n",
		"ca-images-iac/born.yaml":           "contents:\n  packages: [curl]\n",
		"ca-images-iac/.ca-reconciler.yaml": "repos:\n  frozen:\n    suspend: true\n  born:\n    source: node\n",
		"ca-images-iac/quiet.yaml":          "contents:\n  packages: [curl]\n",
		"ca-images-iac/written.yaml":        "contents:\n  packages: [jq]\n",
		"ca-images-iac/broken.yaml":         "contents:\n  packages: [nosuch]\n",
		// The org is not entitled to runtime repositories: every write is
		// refused, and the repo stalls.
		"ca-images-iac/stuck.yaml": "contents:\n  runtime_repositories: [https://apk.example.com/os]\n",
		"ca-images-iac/bad.yaml":   "entrypoint: {command: /bin/sh}\n",
		"ca-images-iac/ghost.yaml": "{}\n",
	})
	d := f.startFollowingBuilds()

	// Wait until every repo is where it ends: both builds finished and
	// stuck stalled.
	var st store.Status
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, _ := get(t, "http://"+d.addr+"/status")
		st = store.Status{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range st.Repos {
			got[r.Repo] = string(r.Status)
			if r.LastBuild != nil {
				got[r.Repo] += " " + string(r.LastBuild.Result)
			}
		}
		want := map[string]string{
			"quiet": "synced", "written": "synced success", "broken": "synced failure", "stuck": "stalled",
			"bad": "invalid", "ghost": "missing", "orphan": "orphan", "frozen": "suspended", "born": "synced success",
		}
		if cmp.Equal(want, got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("repos never settled (-want +got):\n%s\n%s", cmp.Diff(want, got), d.stderr.String())
		}
	}

	series, size := seriesByRepo(t, d.addr)
	want := map[string][]string{
		"quiet": {"ca_reconciler_repo_status{status=synced}"},
		"written": {
			"ca_reconciler_drift_detected_total{}", "ca_reconciler_repo_build_failed{}", "ca_reconciler_repo_status{status=synced}",
		},
		"broken": {
			"ca_reconciler_drift_detected_total{}", "ca_reconciler_repo_build_failed{}", "ca_reconciler_repo_status{status=synced}",
		},
		"stuck":  {"ca_reconciler_drift_detected_total{}", "ca_reconciler_repo_status{status=stalled}"},
		"bad":    {"ca_reconciler_repo_status{status=invalid}"},
		"ghost":  {"ca_reconciler_repo_status{status=missing}"},
		"orphan": {"ca_reconciler_repo_status{status=orphan}"},
		"frozen": {"ca_reconciler_drift_detected_total{}", "ca_reconciler_repo_status{status=suspended}"},
		"born": {
			"ca_reconciler_drift_detected_total{}", "ca_reconciler_repo_build_failed{}", "ca_reconciler_repo_status{status=synced}",
		},
	}
	if diff := cmp.Diff(want, series); diff != "" {
		t.Errorf("series per repo on a scrape (-want +got):\n%s", diff)
	}
	for repo, s := range series {
		if len(s) > metrics.SeriesPerRepo {
			t.Errorf("repo %s has %d series, more than metrics.SeriesPerRepo (%d): %v", repo, len(s), metrics.SeriesPerRepo, s)
		}
	}
	t.Logf("one scrape with %d repos: %d bytes", len(st.Repos), size)
}
