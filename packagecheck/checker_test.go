package packagecheck_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apkv1 "chainguard.dev/sdk/proto/platform/apk/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
	"github.com/ca-reconciler/ca-reconciler/packagecheck"
)

const listAPKs = apkv1.APK_ListAPKs_FullMethodName

// observed records what the checker tells its observer.
type observed struct {
	mu     sync.Mutex
	reads  []string
	checks []string
}

func (o *observed) IndexRead(calls int, packages map[string]int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads = append(o.reads, fmt.Sprintf("calls=%d x86_64=%d aarch64=%d err=%v", calls, packages["x86_64"], packages["aarch64"], err != nil))
}

func (o *observed) Checked(status packagecheck.Status, age time.Duration, checked, refused int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks = append(o.checks, fmt.Sprintf("%s age=%s checked=%d refused=%d", status, age, checked, refused))
}

// world is an emulator with one organization whose catalog has the
// packages below plus filler, so that listing it takes three pages per
// architecture, and a client of it.
type world struct {
	emu    *emulator.Server
	client *chainguard.Client
	org    packagecheck.Org
	repos  map[string]string // name -> id
}

const fillers = 430 // 450 packages: three pages of 200

// newWorldWith starts an emulator with opts holding the organization
// acme.com with catalog, and dials it.
func newWorldWith(t *testing.T, opts emulator.Options, catalog []emulator.Package) *world {
	t.Helper()
	emu, url := emutest.Start(t, opts)
	orgID := emu.CreateOrg("acme.com")
	if err := emu.SetCatalogPackages(orgID, catalog); err != nil {
		t.Fatal(err)
	}
	c, err := chainguard.Dial(t.Context(), chainguard.Config{URL: url, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &world{emu: emu, client: c, org: packagecheck.Org{ID: orgID, Name: "acme.com"}, repos: map[string]string{}}
}

// addRepo creates a repo of the organization and returns its id.
func (w *world) addRepo(name string) string {
	r := w.emu.CreateRepo(w.org.ID, &registryv1.Repo{Name: name, ActiveTags: []string{"latest"}, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
	w.repos[name] = r.GetId()
	return r.GetId()
}

func newWorld(t *testing.T) *world {
	t.Helper()
	catalog := []emulator.Package{
		{Name: "glibc", Version: "2.41-r0", Provides: []string{"so:libc.so.6=6"}},
		{Name: "busybox", Version: "1.37-r0", Depends: []string{"so:libc.so.6"}},
		{Name: "python-3.13", Version: "3.13.1-r0", Depends: []string{"so:libc.so.6"}, Provides: []string{"python3=3.13.1-r0"}},
		{Name: "python-3.12", Version: "3.12.8-r0", Depends: []string{"so:libc.so.6"}, Provides: []string{"python3=3.12.8-r0"}},
		{Name: "curl", Version: "8.11-r0", Depends: []string{"so:libc.so.6"}},
		{Name: "jq", Version: "1.7.1-r0"},
		{Name: "mongo-8.0", Version: "8.0.4-r0"},
		{Name: "x86-tool", Version: "1.0-r0", Archs: []string{"x86_64"}},
		{Name: "broken", Version: "2.0-r0", Depends: []string{"libnope"}},
	}
	for i := range fillers {
		catalog = append(catalog, emulator.Package{Name: fmt.Sprintf("filler-%03d", i)})
	}
	w := newWorldWith(t, emulator.Options{BuildDuration: time.Millisecond}, catalog)
	for _, name := range []string{"python", "tools", "web", "api", "db"} {
		if err := w.emu.SetBaseImage(w.addRepo(name), []string{"glibc", "busybox", "python-3.13"}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// build writes o to the repo through the API and waits for its build,
// returning the result and the end of its log.
func (w *world) build(t *testing.T, repo string, o overlay.Overlay) (registryv1.BuildReport_Result, string) {
	t.Helper()
	before := len(w.emu.BuildReports(w.repos[repo]))
	if _, err := w.client.WriteOverlay(t.Context(), w.repos[repo], o); err != nil {
		t.Fatalf("writing %s: %v", repo, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		reports := w.emu.BuildReports(w.repos[repo])
		if len(reports) > before && reports[len(reports)-1].GetResult() != registryv1.BuildReport_Unknown {
			last := reports[len(reports)-1]
			lines := strings.Split(strings.TrimSpace(last.GetLog()), "\n")
			return last.GetResult(), strings.Join(lines[max(0, len(lines)-3):], "\n")
		}
	}
	t.Fatalf("the build of %s did not finish", repo)
	return 0, ""
}

// file is a parsed overlay file, as the reconciler hands it over.
func file(t *testing.T, name, data string) (overlay.Overlay, map[string]overlay.Position) {
	t.Helper()
	p, err := overlay.ParseFile(name, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return p.Overlay, p.Positions
}

func newChecker(t *testing.T, w *world, cfg packagecheck.Config) *packagecheck.Checker {
	t.Helper()
	c, err := packagecheck.New(w.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Each refusal the check predicts is a build that really fails, for the
// reason it gives; a file it accepts builds.
func TestCheckPredictsTheBuild(t *testing.T) {
	w := newWorld(t)
	// A first, successful build gives every repo a locked_config.
	for name := range w.repos {
		if res, log := w.build(t, name, overlay.Overlay{Packages: []string{"jq"}}); res != registryv1.BuildReport_Success {
			t.Fatalf("first build of %s: %v\n%s", name, res, log)
		}
	}
	files := map[string]string{
		"python": "contents:\n  packages:\n    - curl\n    - mongo-9.0\n",
		"tools":  "contents:\n  packages: [jq, x86-tool]\n",
		"web":    "contents:\n  packages:\n    - broken\n",
		"api":    "contents:\n  packages:\n    - curl=9.0-r0\n",
		"db":     "contents:\n  packages:\n    - mongo-8.0\n    - curl\n",
	}
	var repos []packagecheck.Repo
	overlays := map[string]overlay.Overlay{}
	for _, name := range []string{"api", "db", "python", "tools", "web"} {
		path := "ca-images-iac/" + name + ".yaml"
		o, pos := file(t, path, files[name])
		overlays[name] = o
		repos = append(repos, packagecheck.Repo{Name: name, ID: w.repos[name], File: path, Packages: o.Packages, Positions: pos, LivePackages: []string{"jq"}})
	}
	obs := &observed{}
	checker := newChecker(t, w, packagecheck.Config{Observer: obs})
	w.emu.ResetCounts()
	res := checker.Check(t.Context(), w.org, repos)

	want := map[string][]string{
		"api":    {`ca-images-iac/api.yaml:3:7: contents.packages[0]: "curl=9.0-r0": no version of curl on x86_64 and aarch64 satisfies it (available: 8.11-r0)`},
		"python": {`ca-images-iac/python.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)`},
		"tools":  {`ca-images-iac/tools.yaml:2:18: contents.packages[1]: "x86-tool" is not available to acme.com on aarch64 (it is on x86_64)`},
		"web":    {`ca-images-iac/web.yaml:3:7: contents.packages[0]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.com (needed by broken-2.0-r0)`},
	}
	got := map[string][]string{}
	for name, ps := range res.Problems {
		for _, p := range ps {
			got[name] = append(got[name], p.String())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if res.Status != packagecheck.StatusChecked || len(res.Notes) != 0 {
		t.Errorf("status %s, notes %v", res.Status, res.Notes)
	}
	// Every page of both architectures, once; one build listing per repo.
	if res.IndexCalls != 6 || w.emu.Calls(listAPKs) != 6 || res.BuildCalls != 5 || w.emu.Calls(registryv1.Registry_ListBuildReports_FullMethodName) != 5 {
		t.Errorf("calls: index %d (emulator %d), builds %d (emulator %d); want 6 and 5",
			res.IndexCalls, w.emu.Calls(listAPKs), res.BuildCalls, w.emu.Calls(registryv1.Registry_ListBuildReports_FullMethodName))
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("calls=6 x86_64=%d aarch64=%d err=false", fillers+9, fillers+8)}, obs.reads); diff != "" {
		t.Errorf("index reads observed (-want +got):\n%s", diff)
	}

	// The same overlays written directly: each refused one fails its build
	// for the reason given, in apk's words; the accepted one builds.
	for name, wantLog := range map[string]string{
		"api":    "curl=9.0-r0",
		"python": "mongo-9.0",
		"tools":  "x86-tool",
		"web":    "libnope",
		"db":     "",
	} {
		result, log := w.build(t, name, overlays[name])
		switch {
		case wantLog == "" && result != registryv1.BuildReport_Success:
			t.Errorf("%s, accepted by the check, did not build: %v\n%s", name, result, log)
		case wantLog != "" && (result != registryv1.BuildReport_Failure || !strings.Contains(log, wantLog)):
			t.Errorf("%s, refused by the check, built %v; log ends:\n%s", name, result, log)
		}
	}
	if diff := overlaypb.FromProto(w.emu.Repo(w.repos["db"]).GetCustomOverlay()); !overlay.Equal(diff, overlays["db"]) {
		t.Errorf("db overlay = %+v", diff)
	}
}

// The index is read once per interval, and again only for a package it
// lacks, once; a check with nothing to check asks nothing.
func TestIndexIsReadOnlyWhenNeeded(t *testing.T) {
	w := newWorld(t)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	obs := &observed{}
	checker := newChecker(t, w, packagecheck.Config{Clock: clk, Observer: obs, Interval: 10 * time.Minute})
	repo := func(pkgs ...string) []packagecheck.Repo {
		return []packagecheck.Repo{{Name: "python", ID: w.repos["python"], File: "python.yaml", Packages: pkgs}}
	}
	for _, step := range []struct {
		name       string
		advance    time.Duration
		repos      []packagecheck.Repo
		indexCalls int
		buildCalls int
		refused    int
	}{
		{name: "idle, before any read", repos: nil},
		{name: "first check reads", repos: repo("curl"), indexCalls: 6, buildCalls: 1},
		{name: "within the interval", advance: time.Minute, repos: repo("jq"), buildCalls: 1},
		{name: "a package the index lacks reads again", repos: repo("mongo-9.0"), indexCalls: 6, buildCalls: 1, refused: 1},
		{name: "the same missing package does not", advance: time.Minute, repos: repo("mongo-9.0"), buildCalls: 1, refused: 1},
		{name: "idle", repos: nil},
		{name: "after the interval", advance: 10 * time.Minute, repos: repo("curl"), indexCalls: 6, buildCalls: 1},
		{name: "a repo without packages asks nothing", repos: repo()},
	} {
		clk.Advance(step.advance)
		w.emu.ResetCounts()
		res := checker.Check(t.Context(), w.org, step.repos)
		if res.IndexCalls != step.indexCalls || w.emu.Calls(listAPKs) != step.indexCalls {
			t.Errorf("%s: %d ListAPKs calls (emulator %d), want %d", step.name, res.IndexCalls, w.emu.Calls(listAPKs), step.indexCalls)
		}
		if res.BuildCalls != step.buildCalls || w.emu.Calls(registryv1.Registry_ListBuildReports_FullMethodName) != step.buildCalls {
			t.Errorf("%s: %d ListBuildReports calls, want %d", step.name, res.BuildCalls, step.buildCalls)
		}
		if len(res.Problems) != step.refused || res.Status != packagecheck.StatusChecked {
			t.Errorf("%s: %s, problems %v", step.name, res.Status, res.Problems)
		}
	}
	wantChecks := []string{
		"checked age=0s checked=0 refused=0",
		"checked age=0s checked=1 refused=0",
		"checked age=1m0s checked=1 refused=0",
		"checked age=0s checked=1 refused=1",
		"checked age=1m0s checked=1 refused=1",
		"checked age=1m0s checked=0 refused=0",
		"checked age=0s checked=1 refused=0",
		"checked age=0s checked=1 refused=0",
	}
	if diff := cmp.Diff(wantChecks, obs.checks); diff != "" {
		t.Errorf("checks observed (-want +got):\n%s", diff)
	}
}

// An identity without apk.list (the emulator answers PermissionDenied for
// an organization without a catalog) gets one warning, a skipped check
// naming the capability, no refusal, and no further call for an interval.
func TestWithoutAPKList(t *testing.T) {
	w := newWorld(t)
	if err := w.emu.SetCatalogPackages(w.org.ID, nil); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	checker := newChecker(t, w, packagecheck.Config{Clock: clk, Logger: zap.New(core)})
	repos := []packagecheck.Repo{{Name: "python", ID: w.repos["python"], File: "python.yaml", Packages: []string{"nosuch"}}}
	for i, advance := range []time.Duration{0, time.Minute, 10 * time.Minute} {
		clk.Advance(advance)
		w.emu.ResetCounts()
		res := checker.Check(t.Context(), w.org, repos)
		if res.Status != packagecheck.StatusSkipped || res.Capability != "apk.list" || len(res.Problems) != 0 ||
			!strings.HasPrefix(res.Reason, "listing packages needs the apk.list capability: listing packages of "+w.org.ID+" for x86_64: rpc error: code = PermissionDenied") {
			t.Errorf("check %d = %+v", i, res)
		}
		wantCalls := 1
		if i == 1 {
			wantCalls = 0 // within the interval of the refusal
		}
		if n := w.emu.Calls(listAPKs); n != wantCalls {
			t.Errorf("check %d: %d ListAPKs calls, want %d", i, n, wantCalls)
		}
	}
	if n := logs.FilterMessage("the package check is skipped: the identity cannot list the organization's packages").Len(); n != 1 || logs.Len() != 1 {
		t.Errorf("logged %d warnings (%d lines), want one", n, logs.Len())
	}
	if f := logs.All()[0].ContextMap(); f["capability"] != "apk.list" {
		t.Errorf("the warning does not name the capability: %v", f)
	}
}

// A repo to be created has no builds: its file is checked alone, and the
// result says so.
func TestRepoToBeCreated(t *testing.T) {
	w := newWorld(t)
	checker := newChecker(t, w, packagecheck.Config{})
	res := checker.Check(t.Context(), w.org, []packagecheck.Repo{{Name: "new", File: "new.yaml", Packages: []string{"curl", "python-3.12"}}})
	if len(res.Problems) != 0 || res.BuildCalls != 0 {
		t.Errorf("problems %v, build calls %d", res.Problems, res.BuildCalls)
	}
	if diff := cmp.Diff(map[string][]string{"new": {"the base image is not known before the repo exists; the file's packages were checked alone"}}, res.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// Only the newest successful build tells the base: after the source image
// moved from python-3.12 to python-3.13, a file adding a package that needs
// 3.13's python3 is checked against the new base alone, not refused for a
// conflict with the old one, and costs resolves of one base, not two.
func TestOnlyTheNewestBuildTellsTheBase(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Now())
	w := newWorldWith(t, emulator.Options{BuildDuration: time.Millisecond, Now: clk.Now}, []emulator.Package{
		{Name: "glibc", Version: "2.41-r0", Provides: []string{"so:libc.so.6=6"}},
		{Name: "python-3.13", Version: "3.13.1-r0", Depends: []string{"so:libc.so.6"}, Provides: []string{"python3=3.13.1-r0"}},
		{Name: "python-3.12", Version: "3.12.8-r0", Depends: []string{"so:libc.so.6"}, Provides: []string{"python3=3.12.8-r0"}},
		{Name: "jq", Version: "1.7.1-r0"},
		{Name: "pip-tool", Version: "1.0-r0", Depends: []string{"python3>=3.13"}},
	})
	emu, id := w.emu, w.addRepo("api")
	for _, base := range []string{"python-3.12", "python-3.13"} {
		if err := emu.SetBaseImage(id, []string{"glibc", base}); err != nil {
			t.Fatal(err)
		}
		if res, log := w.build(t, "api", overlay.Overlay{Packages: []string{"jq"}}); res != registryv1.BuildReport_Success {
			t.Fatalf("build on %s: %v\n%s", base, res, log)
		}
		// The next write's builds start later than the builds of one
		// write are apart.
		clk.Advance(2 * time.Minute)
	}
	checker := newChecker(t, w, packagecheck.Config{Clock: clk})
	o, pos := file(t, "api.yaml", "contents:\n  packages: [jq, pip-tool]\n")
	res := checker.Check(t.Context(), w.org, []packagecheck.Repo{{Name: "api", ID: id, File: "api.yaml", Packages: o.Packages, Positions: pos, LivePackages: []string{"jq"}}})
	if len(res.Problems) != 0 || len(res.Notes) != 0 {
		t.Errorf("problems %v, notes %v; want none (the newest base has python-3.13)", res.Problems, res.Notes)
	}
	// The file builds on the new base, and not on the old one: the check
	// would have refused it had it used the older build.
	if result, log := w.build(t, "api", o); result != registryv1.BuildReport_Success {
		t.Errorf("the file the check accepts does not build on the new base: %v\n%s", result, log)
	}
	clk.Advance(2 * time.Minute)
	if err := emu.SetBaseImage(id, []string{"glibc", "python-3.12"}); err != nil {
		t.Fatal(err)
	}
	if result, log := w.build(t, "api", overlay.Overlay{Packages: []string{"jq", "pip-tool"}}); result != registryv1.BuildReport_Failure {
		t.Errorf("on the old base the file builds (%v): the test does not show what it means to\n%s", result, log)
	}
}
