package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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

// TestLifecycleFeedbackEndToEnd runs the daemon with --prune against the
// emulator and a real Git repository, reporting commit statuses to a local
// server checking GitHub's request shape and notifications to a local
// sink: a revision that only creates a repo is pending, then success when
// its build succeeds, and the create is not notified; a revision deleting
// more files than --prune-limit fails naming the repos, is notified once
// however many cycles refuse it, and shows the refusal on the repo's page;
// a revision whose create the service refuses (a source of another
// organization) fails naming the repo and is notified once; a revision
// whose settings file is invalid fails naming the file, then the write it
// holds back, and is notified once with the file's problems. The overview
// links every repo's page.
func TestLifecycleFeedbackEndToEnd(t *testing.T) {
	const token = "ghs_LIFECYCLEtoken0123456789"
	f := newFixture(t)
	if _, err := f.emu.SetSourceImages(f.orgID, "node"); err != nil {
		t.Fatal(err)
	}
	other := f.emu.CreateOrg("other.example")
	secret := f.emu.CreateRepo(other, &registryv1.Repo{Name: "secret", SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
	f.repo("a", overlay.Overlay{Packages: []string{"curl"}})
	f.repo("b", overlay.Overlay{Packages: []string{"curl"}})
	api := &statusAPI{t: t, token: token}
	statusSrv := httptest.NewServer(api)
	defer statusSrv.Close()
	sink := &notifySink{}
	notifySrv := httptest.NewServer(sink)
	defer notifySrv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	const settingsPath = "ca-images-iac/.ca-reconciler.yaml"
	f.commit(map[string]string{
		"ca-images-iac/a.yaml":           curlFile,
		"ca-images-iac/b.yaml":           curlFile,
		"ca-images-iac/custom-node.yaml": curlFile,
		settingsPath:                     "repos:\n  custom-node:\n    source: node\n",
	})
	rev1 := f.revision()
	d := startDaemon(t, []string{"run", "--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(),
		"--interval", "1s", "--build-poll-interval", "1s", "--prune", "--prune-limit", "1",
		"--commit-status", "github", "--commit-status-url", statusSrv.URL, "--commit-status-repo", "acme/images-config",
		"--commit-status-token-file", tokenFile, "--external-url", "https://cd.example.com/", "--notify-url", notifySrv.URL}, f.getenv)
	base := "http://" + d.addr
	last := func() string {
		s := api.statuses()
		if len(s) == 0 {
			return ""
		}
		return s[len(s)-1]
	}
	cycles := func() int { return strings.Count(d.stderr.String(), `"reconcile finished"`) }
	waitCycles := func(n int) {
		t.Helper()
		from := cycles()
		waitFor(t, fmt.Sprintf("%d more cycles", n), func() bool { return cycles() >= from+n })
	}

	// rev1 only creates custom-node.
	waitFor(t, "success of the create", func() bool { return strings.HasPrefix(last(), rev1+" success") })
	page, code := get(t, base+"/repos/custom-node")
	if code != http.StatusOK || !strings.Contains(page, "create from <code>node</code>") || !strings.Contains(page, `<span class="badge ok">created</span>`) {
		t.Errorf("/repos/custom-node (%d) does not show the create:\n%s", code, page)
	}

	// rev2 deletes a and b: more prunes than --prune-limit 1.
	for _, name := range []string{"a", "b"} {
		if err := os.Remove(filepath.Join(f.dir, "ca-images-iac", name+".yaml")); err != nil {
			t.Fatal(err)
		}
	}
	f.commit(nil)
	rev2 := f.revision()
	waitFor(t, "failure of the refused prunes", func() bool { return strings.HasPrefix(last(), rev2+" failure") })
	waitCycles(3)
	page, _ = get(t, base+"/repos/a")
	for _, want := range []string{`<dd id="held"><span class="badge bad">refused</span> more repos would be pruned than --prune-limit allows: none is pruned</dd>`,
		"pruning refused: 2 repos would be pruned, more than --prune-limit 1: none is pruned", "<td>prune</td>", "(deleted)"} {
		if !strings.Contains(page, want) {
			t.Errorf("/repos/a lacks %q:\n%s", want, page)
		}
	}
	overview, _ := get(t, base+"/")
	for _, repo := range []string{"a", "b", "custom-node"} {
		if !strings.Contains(overview, `href="repos/`+repo+`"`) {
			t.Errorf("the overview does not link %s", repo)
		}
		if _, code := get(t, base+"/repos/"+repo); code != http.StatusOK {
			t.Errorf("/repos/%s: %d", repo, code)
		}
	}

	// rev3 restores them and names a source of another organization.
	f.commit(map[string]string{
		"ca-images-iac/a.yaml":      curlFile,
		"ca-images-iac/b.yaml":      curlFile,
		"ca-images-iac/denied.yaml": curlFile,
		settingsPath:                "repos:\n  custom-node:\n    source: node\n  denied:\n    source: " + secret.GetId() + "\n",
	})
	rev3 := f.revision()
	waitFor(t, "failure of the refused create", func() bool { return strings.HasPrefix(last(), rev3+" failure") })
	waitCycles(3)
	page, _ = get(t, base+"/repos/denied")
	for _, want := range []string{"create from <code>" + secret.GetId() + "</code>", `<span class="badge bad">failed</span>`, `id="source"`,
		settingsPath + ":5:13: repos.denied.source: the organization cannot create repo &#34;denied&#34;"} {
		if !strings.Contains(page, want) {
			t.Errorf("/repos/denied lacks %q:\n%s", want, page)
		}
	}
	waitFor(t, "the create refusal delivered", func() bool { return len(sink.kinds()) >= 2 })
	sink.mu.Lock()
	create := sink.got[len(sink.got)-1]
	sink.mu.Unlock()

	// rev4 breaks the settings file and changes a: the write is held back.
	f.commit(map[string]string{"ca-images-iac/a.yaml": jqFile, settingsPath: badSetting})
	rev4 := f.revision()
	waitFor(t, "failure of the held write", func() bool { return strings.HasPrefix(last(), rev4+" failure") })
	waitCycles(3)
	waitFor(t, "the notifications delivered", func() bool { return len(sink.kinds()) >= 3 })
	metricsText, _ := get(t, base+"/metrics")
	d.stop()

	want := []string{
		rev1 + " pending: 1 repo building",
		rev1 + " success: 1 repo written, 1 build succeeded",
		rev2 + " failure: failed: a (prune refused), b (prune refused)",
		rev3 + " failure: failed: denied (create refused)",
		rev4 + " failure: failed: " + settingsPath + " (invalid file), denied (missing repo), a (held back)",
	}
	if diff := cmp.Diff(want, api.statuses()); diff != "" {
		t.Errorf("commit statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"refused <nil>", "refused denied", "refused <nil>"}, sink.kinds()); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	limit := sink.find("refused")
	if diff := cmp.Diff(map[string]any{"version": 1.0, "kind": "refused", "org": "acme.example", "action": "prune", "held": "prune_limit",
		"repos":   []any{"a", "b"},
		"summary": "Pruning refused (acme.example): 2 repos would be pruned, more than --prune-limit 1: none is pruned",
		"reason":  "2 repos would be pruned, more than --prune-limit 1: none is pruned", "url": "https://cd.example.com",
	}, limit, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "time" })); diff != "" {
		t.Errorf("the prune refusal (-want +got):\n%s", diff)
	}
	if create["action"] != "create" || create["url"] != "https://cd.example.com/repos/denied" ||
		!strings.HasPrefix(fmt.Sprint(create["reason"]), settingsPath+`:5:13: repos.denied.source: the organization cannot create repo "denied" from source "`+secret.GetId()+`": organization "acme.example" is not entitled`) {
		t.Errorf("the create refusal: %v", create)
	}
	sink.mu.Lock()
	held := sink.got[len(sink.got)-1]
	sink.mu.Unlock()
	if diff := cmp.Diff(map[string]any{"version": 1.0, "kind": "refused", "org": "acme.example", "held": "settings_invalid", "repos": []any{"a"},
		"summary":  "Writes held back (acme.example): " + settingsPath + " is invalid: nothing is written, created or pruned until it is fixed",
		"reason":   settingsPath + " is invalid: nothing is written, created or pruned until it is fixed",
		"problems": []any{settingsPath + `:3:14: repos.web.suspend: expected true or false, got the string "yes please"`}, "url": "https://cd.example.com",
	}, held, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "time" })); diff != "" {
		t.Errorf("the settings refusal (-want +got):\n%s", diff)
	}
	if n := sampleSum(metricsText, "ca_reconciler_notifications_total", `result="duplicate"`); n < 3 {
		t.Errorf("%v duplicate notifications counted, want at least 3 (the refusal repeats every cycle)", n)
	}
	for name, text := range map[string]string{"logs": d.stderr.String(), "metrics": metricsText, "page": page, "overview": overview} {
		if strings.Contains(text, token) {
			t.Errorf("the commit status token appears in the %s", name)
		}
	}
}
