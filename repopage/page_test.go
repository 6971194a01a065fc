package repopage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/net/html"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/statuspage"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

const hostile = `<img src=x onerror=alert(1)>&"'`

// Texts of the lifecycle's refusals, as the reconciler words them.
const (
	pruneRefused    = "pruning refused: 7 repos would be pruned, more than --prune-limit 5: none is pruned"
	warnedLine      = "ca-images-iac/warned-repo.yaml:7:13: warning: accounts.run-as: user \"builder\" is defined neither in the file nor in Chainguard's base images"
	checkRefused    = "ca-images-iac/check-refused.yaml:4:7: contents.packages: package \"nosuch\" is not in the organization's APK index (x86_64, aarch64)"
	checkNote       = "the base image's packages are unknown (no successful build yet): checked the file's packages alone"
	sourceRefused   = `ca-images-iac/.ca-reconciler.yaml:3:13: repos.refused-create.source: the organization cannot create repo "refused-create" from source "nosuch": source repository "nosuch" not found`
	settingsInvalid = "ca-images-iac/.ca-reconciler.yaml is invalid: nothing is written, created or pruned until it is fixed"
)

// world is one repo of each status, with its history, plus the
// lifecycle's cases (a repo created from a source, a create the service
// refused, a prune a guard refused, a write held back by an invalid
// settings file) and a repo whose name, file and values are hostile.
func world(t *testing.T) (*store.Store, *History) {
	t.Helper()
	st, h := store.New(), NewHistory()
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	curl := overlay.Overlay{Packages: []string{"curl"}}
	jq := overlay.Overlay{Packages: []string{"curl", "jq"}}
	wget := overlay.Overlay{Packages: []string{"curl", "wget"}}
	empty := overlay.Overlay{}
	for _, s := range []store.RepoState{
		{Repo: "synced-repo", RepoID: "org/1", File: "ca-images-iac/synced-repo.yaml", Status: vocab.StatusSynced, DesiredHash: "sha256:aaaa", LiveHash: "sha256:aaaa", LastWrite: ago(time.Hour)},
		{Repo: "drifted-repo", RepoID: "org/2", File: "ca-images-iac/drifted-repo.yaml", Status: vocab.StatusDrifted, DesiredHash: "sha256:bbbb", LiveHash: "sha256:cccc", Diff: []string{"- package jq"}, DriftSince: ago(time.Minute)},
		{Repo: "failed-repo", RepoID: "org/3", File: "ca-images-iac/failed-repo.yaml", Status: vocab.StatusFailed, Diff: []string{"+ package jq"}, WriteError: "writing repo failed-repo: PermissionDenied"},
		{Repo: "stalled-repo", RepoID: "org/4", File: "ca-images-iac/stalled-repo.yaml", Status: vocab.StatusStalled, Writes: 3, Diff: []string{"+ package jq"}},
		{Repo: "invalid-repo", RepoID: "org/5", File: "ca-images-iac/invalid-repo.yaml", Status: vocab.StatusInvalid, Error: "ca-images-iac/invalid-repo.yaml:2:3: environment.CHAINGUARD_X: reserved"},
		{Repo: "missing-repo", File: "ca-images-iac/missing-repo.yaml", Status: vocab.StatusMissing, Error: `repo "missing-repo" does not exist in the organization`},
		{Repo: "orphan-repo", RepoID: "org/7", Status: vocab.StatusOrphan, LiveHash: "sha256:dddd"},
		{Repo: hostile, RepoID: "org/8", File: "ca-images-iac/" + hostile + ".yaml", Status: vocab.StatusDrifted, Diff: []string{"+ annotation x: " + hostile}},
		{Repo: "suspended-repo", RepoID: "org/9", File: "ca-images-iac/suspended-repo.yaml", Status: vocab.StatusSuspended, DesiredHash: "sha256:aaaa", LiveHash: "sha256:abab",
			Diff: []string{"- package wget"}, DriftSince: ago(2 * time.Hour), Held: vocab.HoldSuspended, Would: vocab.ActionUpdate},
		{Repo: "pruned-repo", RepoID: "org/10", File: "ca-images-iac/pruned-repo.yaml", Status: vocab.StatusPruned, DesiredHash: "sha256:e0e0", LiveHash: "sha256:e0e0", LastWrite: ago(time.Minute)},
		{Repo: "created-repo", RepoID: "org/11", File: "ca-images-iac/created-repo.yaml", Status: vocab.StatusSynced, DesiredHash: "sha256:aaaa", LiveHash: "sha256:aaaa", LastWrite: ago(time.Hour)},
		{Repo: "refused-create", File: "ca-images-iac/refused-create.yaml", Status: vocab.StatusInvalid, DesiredHash: "sha256:aaaa", Error: sourceRefused},
		{Repo: "prune-refused", RepoID: "org/12", File: "ca-images-iac/prune-refused.yaml", Status: vocab.StatusDrifted, DesiredHash: "sha256:e0e0", LiveHash: "sha256:aaaa",
			Diff: []string{"- package curl"}, DriftSince: ago(time.Minute), Held: vocab.HoldPruneLimit, Would: vocab.ActionPrune, Error: pruneRefused},
		{Repo: "held-repo", RepoID: "org/13", File: "ca-images-iac/held-repo.yaml", Status: vocab.StatusDrifted, DesiredHash: "sha256:bbbb", LiveHash: "sha256:aaaa",
			Diff: []string{"+ package jq"}, DriftSince: ago(time.Minute), Held: vocab.HoldSettingsInvalid, Error: settingsInvalid},
		{Repo: "warned-repo", RepoID: "org/14", File: "ca-images-iac/warned-repo.yaml", Status: vocab.StatusSynced, DesiredHash: "sha256:aaaa", LiveHash: "sha256:aaaa",
			Warnings: []string{warnedLine}, UnknownFields: 2},
		{Repo: "check-refused", RepoID: "org/15", File: "ca-images-iac/check-refused.yaml", Status: vocab.StatusInvalid, DesiredHash: "sha256:aaaa",
			Error: checkRefused, CheckRefused: true, CheckNotes: []string{checkNote}},
	} {
		st.PutRepo(s)
	}
	seen := func(repo, rev, hash string, desired, live *overlay.Overlay) {
		h.Overlays(repo, Seen{File: "ca-images-iac/" + repo + ".yaml", Revision: rev, DesiredHash: hash, Desired: desired, Live: live})
	}
	seen("synced-repo", "0123456789abcdef0123456789abcdef01234567", "sha256:aaaa", &curl, &curl)
	h.AddWrite("synced-repo", Write{At: now.Add(-time.Hour), Action: "update", Attempts: 1, Converged: true, Diff: []string{"+ package curl"}})
	h.AddBuild("synced-repo", Build{ID: "build-ok", Result: "success", Started: now.Add(-time.Hour), Finished: now.Add(-59 * time.Minute)})
	seen("drifted-repo", "r2", "sha256:bbbb", &curl, &jq)
	seen("failed-repo", "r2", "sha256:eeee", &jq, &curl)
	h.AddWrite("failed-repo", Write{At: now.Add(-time.Minute), Action: "update", Attempts: 3, Error: "writing repo failed-repo: PermissionDenied"})
	seen("stalled-repo", "r2", "sha256:ffff", &jq, &curl)
	for range 3 {
		h.AddWrite("stalled-repo", Write{At: now.Add(-time.Minute), Action: "update", Attempts: 1, Diff: []string{"+ package jq"}})
	}
	h.AddBuild("stalled-repo", Build{ID: "build-bad", Result: "failure", Started: now.Add(-2 * time.Minute), Finished: now.Add(-time.Minute),
		LogTail: []string{`ERROR: package "nosuch" not found`, hostile}})
	seen("invalid-repo", "r2", "invalid:1234", nil, &curl)
	seen("missing-repo", "r2", "sha256:aaaa", &curl, nil)
	h.Overlays("orphan-repo", Seen{Revision: "r2", Live: &jq})
	evil := overlay.Overlay{Annotations: map[string]string{"x": hostile}}
	seen(hostile, "r2", "sha256:9999", &evil, &overlay.Overlay{})

	seen("suspended-repo", "r2", "sha256:aaaa", &curl, &wget)
	seen("pruned-repo", "r3", "sha256:e0e0", &empty, &empty)
	h.AddWrite("pruned-repo", Write{At: now.Add(-time.Minute), Action: "prune", Attempts: 1, Converged: true, Diff: []string{"- package curl"}})
	h.Overlays("created-repo", Seen{File: "ca-images-iac/created-repo.yaml", Revision: "r1", DesiredHash: "sha256:aaaa", Desired: &curl, Live: &curl, Source: "node"})
	h.AddWrite("created-repo", Write{At: now.Add(-time.Hour), Action: "create", Source: "node", Attempts: 1, Converged: true, Diff: []string{"+ package curl"}})
	h.AddBuild("created-repo", Build{ID: "build-new", Result: "success", Started: now.Add(-time.Hour), Finished: now.Add(-58 * time.Minute)})
	h.Overlays("refused-create", Seen{File: "ca-images-iac/refused-create.yaml", Revision: "r2", DesiredHash: "sha256:aaaa", Desired: &curl, Source: "nosuch"})
	h.AddWrite("refused-create", Write{At: now.Add(-time.Minute), Action: "create", Source: "nosuch", Attempts: 1, Error: sourceRefused})
	seen("prune-refused", "r3", "sha256:e0e0", &empty, &curl)
	h.AddWrite("prune-refused", Write{At: now.Add(-time.Minute), Action: "prune", Held: vocab.HoldPruneLimit, Error: pruneRefused, Diff: []string{"- package curl"}})
	seen("held-repo", "r3", "sha256:bbbb", &jq, &curl)
	h.AddWrite("held-repo", Write{At: now.Add(-time.Minute), Action: "update", Held: vocab.HoldSettingsInvalid, Error: settingsInvalid, Diff: []string{"+ package jq"}})
	return st, h
}

// server serves the world's repo pages, and the overview page at / as the
// daemon does.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	st, h := world(t)
	p, err := New(Options{Now: func() time.Time { return now }, Org: "acme.com", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	overview, err := statuspage.New(statuspage.Options{Now: func() time.Time { return now }, Refresh: -1, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Pattern, p.Handler(st, h))
	mux.Handle("GET /{$}", overview.Handler(st.Status))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// text is the text of n and what it holds, with a space after each table
// cell.
func text(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(text(c))
	}
	if n.Type == html.ElementNode && (n.Data == "td" || n.Data == "th") {
		b.WriteString(" ")
	}
	return b.String()
}

// byID returns the text of every element with an id, from a parsed page.
func byID(t *testing.T, page string) map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "id" {
					out[a.Val] = strings.TrimSpace(text(n))
				}
			}
			if n.Data == "script" || n.Data == "img" {
				t.Errorf("the page has a <%s> element", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("the page has an event handler attribute %s on <%s>", a.Key, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// want is what each repo's page shows, by element id.
var want = map[string]map[string]string{
	"synced-repo": {"repo": "synced-repo", "status": "synced", "file": "ca-images-iac/synced-repo.yaml", "set-by": "0123456789ab",
		"diff": "No difference between the file and the live overlay.", "desired": "contents:\n  packages:\n    - curl", "live": "contents:\n  packages:\n    - curl"},
	"drifted-repo": {"repo": "drifted-repo", "status": "drifted", "diff": "- package jq", "desired": "contents:\n  packages:\n    - curl",
		"live": "contents:\n  packages:\n    - curl\n    - jq", "builds": "No builds seen since the daemon started.", "writes": "No writes since the daemon started."},
	"failed-repo":  {"repo": "failed-repo", "status": "failed", "diff": "+ package jq"},
	"stalled-repo": {"repo": "stalled-repo", "status": "stalled"},
	"invalid-repo": {"repo": "invalid-repo", "status": "invalid", "error": "ca-images-iac/invalid-repo.yaml:2:3: environment.CHAINGUARD_X: reserved", "desired": "No valid file."},
	"missing-repo": {"repo": "missing-repo", "status": "missing", "live": "No live repo.", "error": `repo "missing-repo" does not exist in the organization`},
	"orphan-repo":  {"repo": "orphan-repo", "status": "orphan", "file": "none: no file names this repo", "desired": "No valid file."},
	hostile:        {"repo": hostile, "status": "drifted", "file": "ca-images-iac/" + hostile + ".yaml", "diff": "+ annotation x: " + hostile},
	"suspended-repo": {"repo": "suspended-repo", "status": "suspended", "held": "suspended by the settings file", "would": "update: not done while suspended",
		"diff": "- package wget", "desired": "contents:\n  packages:\n    - curl", "live": "contents:\n  packages:\n    - curl\n    - wget"},
	"pruned-repo": {"repo": "pruned-repo", "status": "pruned", "file": "ca-images-iac/pruned-repo.yaml (deleted)",
		"desired": "The file is gone: pruning resets the live overlay to the empty overlay.", "diff": "No difference between the file and the live overlay."},
	"created-repo": {"repo": "created-repo", "status": "synced", "source": "node (the settings file creates the repo from it)"},
	"refused-create": {"repo": "refused-create", "status": "invalid", "source": "nosuch (the settings file creates the repo from it)", "error": sourceRefused,
		"desired": "contents:\n  packages:\n    - curl", "live": "No live repo."},
	"prune-refused": {"repo": "prune-refused", "status": "drifted", "file": "ca-images-iac/prune-refused.yaml (deleted)",
		"held": "refused more repos would be pruned than --prune-limit allows: none is pruned", "would": "prune: not done while held back",
		"error": pruneRefused, "diff": "- package curl", "desired": "The file is gone: pruning resets the live overlay to the empty overlay."},
	"warned-repo": {"repo": "warned-repo", "status": "synced", "warnings": warnedLine,
		"unknown-fields": "kept the live overlay holds 2 field(s) this version does not know; they are kept"},
	"check-refused": {"repo": "check-refused", "status": "invalid", "error": checkRefused,
		"package-check": "refused the org's packages cannot build this file (why: below)", "package-check-notes": checkNote},
	"held-repo": {"repo": "held-repo", "status": "drifted", "held": "refused the settings file is invalid: nothing is written, created or pruned until it is fixed",
		"error": settingsInvalid, "diff": "+ package jq"},
}

// wantWrites are the rows of the writes table of the lifecycle's repos,
// as text (cells separated by a space).
var wantWrites = map[string][]string{
	"created-repo":   {"2026-12-02 09:00:00 UTC (1h0m0s ago) create from node created 1 + package curl"},
	"pruned-repo":    {"2026-12-02 09:59:00 UTC (1m0s ago) prune pruned 1 - package curl"},
	"refused-create": {"2026-12-02 09:59:00 UTC (1m0s ago) create from nosuch failed" + sourceRefused + " 1"},
	"prune-refused":  {"2026-12-02 09:59:00 UTC (1m0s ago) prune refused more repos would be pruned than --prune-limit allows: none is pruned" + pruneRefused + " - - package curl"},
	"held-repo": {"2026-12-02 09:59:00 UTC (1m0s ago) update refused the settings file is invalid: nothing is written, created or pruned until it is fixed" +
		settingsInvalid + " - + package jq"},
}

// rows returns the text of each body row of the table with the id, from a
// parsed page, with runs of white space as one space.
func rows(t *testing.T, page, id string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == id {
					in = true
				}
			}
			if in && n.Data == "tr" && n.Parent != nil && n.Parent.Data == "tbody" {
				out = append(out, strings.Join(strings.Fields(text(n)), " "))
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, false)
	return out
}

func checkPage(t *testing.T, repo, page string) {
	t.Helper()
	got := byID(t, page)
	for id, w := range want[repo] {
		if got[id] != w {
			t.Errorf("%s: #%s = %q, want %q", repo, id, got[id], w)
		}
	}
	if w, ok := wantWrites[repo]; ok {
		if diff := cmp.Diff(w, rows(t, page, "writes")); diff != "" {
			t.Errorf("%s: writes (-want +got):\n%s", repo, diff)
		}
	}
}

func TestPages(t *testing.T) {
	srv := server(t)
	for repo := range want {
		t.Run(repo, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/repos/" + url.PathEscape(repo))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b.String())
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			checkPage(t, repo, b.String())
		})
	}
	resp, err := http.Get(srv.URL + "/repos/nosuch")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: %d, want 404", resp.StatusCode)
	}
}

// TestPagesInChromium loads each repo's page in a real headless Chromium
// (Debian's package) and reads the DOM it built: every value is shown as
// text, nothing hostile became an element, and the log tail of a failed
// build, the write history (creates, prunes and refusals with their
// action and reason) and why a write is held back are there. The overview
// page, loaded the same way, links every repo's page, suspended and pruned
// ones included.
func TestPagesInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not on PATH (apt-get install -y chromium)")
		}
		t.Skip("chromium not on PATH (apt-get install -y chromium)")
	}
	srv := server(t)
	t.Run("overview", func(t *testing.T) {
		dom := dumpDOM(t, chromium, srv.URL+"/")
		base, _ := url.Parse(srv.URL + "/")
		var linked []string
		for _, href := range hrefs(t, dom) {
			u, err := base.Parse(href)
			if err != nil {
				t.Fatalf("href %q: %v", href, err)
			}
			if name, ok := strings.CutPrefix(u.Path, "/repos/"); ok {
				linked = append(linked, name)
			}
		}
		var all []string
		for repo := range want {
			all = append(all, repo)
		}
		sortStrings := cmpopts.SortSlices(func(a, b string) bool { return a < b })
		if diff := cmp.Diff(all, linked, sortStrings); diff != "" {
			t.Errorf("repos linked from the overview (-want +got):\n%s", diff)
		}
		for _, repo := range []string{"suspended-repo", "pruned-repo"} {
			if !strings.Contains(dom, `<span class="badge st-`+strings.TrimSuffix(repo, "-repo")+`">`) {
				t.Errorf("the overview does not show %s with its status", repo)
			}
		}
	})
	for repo := range want {
		t.Run(repo, func(t *testing.T) {
			dom := dumpDOM(t, chromium, srv.URL+"/repos/"+url.PathEscape(repo))
			checkPage(t, repo, dom)
			ids := byID(t, dom)
			switch repo {
			case "stalled-repo":
				if !strings.Contains(dom, `ERROR: package "nosuch" not found`) || !strings.Contains(ids["builds"], "failure") {
					t.Errorf("the failed build and its log tail are not shown: %q", ids["builds"])
				}
				if n := strings.Count(ids["writes"], "written, read back different"); n != 3 {
					t.Errorf("%d non-converging writes shown, want 3", n)
				}
			case "failed-repo":
				if !strings.Contains(ids["writes"], "writing repo failed-repo: PermissionDenied") {
					t.Errorf("writes %q", ids["writes"])
				}
			case "synced-repo":
				if diff := cmp.Diff("build-ok success 2026-12-02 09:00:00 UTC 2026-12-02 09:01:00 UTC (59m0s ago) 1m0s", strings.Join(strings.Fields(strings.TrimPrefix(ids["builds"], "Build Result Started Finished Duration")), " ")); diff != "" {
					t.Errorf("builds (-want +got):\n%s", diff)
				}
			case "created-repo":
				if diff := cmp.Diff([]string{"build-new success 2026-12-02 09:00:00 UTC 2026-12-02 09:02:00 UTC (58m0s ago) 2m0s"}, rows(t, dom, "builds")); diff != "" {
					t.Errorf("builds (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// dumpDOM loads a page in headless Chromium and returns the DOM it built.
func dumpDOM(t *testing.T, chromium, pageURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--dump-dom", pageURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// hrefs returns the href of every link of a page.
func hrefs(t *testing.T, page string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// A live overlay is not held to the file's limits: a Console edit with a
// 5 MB annotation, or 5,000 of them, still makes a page of bounded size,
// each cut marked.
func TestHugeOverlaysAreBounded(t *testing.T) {
	many := map[string]string{}
	for i := range 5_000 {
		many[fmt.Sprintf("com.example.k%04d", i)] = strings.Repeat("v", 100)
	}
	for _, tc := range []struct {
		name string
		live overlay.Overlay
		want []string
	}{
		{"one 5 MB value", overlay.Overlay{Annotations: map[string]string{"com.example.x": strings.Repeat("v", 5_000_000)}},
			[]string{"  com.example.x: vvvvvvvvvvvvvvvv", "… (line of 5000017 bytes, sha256:"}},
		{"5,000 values", overlay.Overlay{Annotations: many}, []string{"  com.example.k0000: vvvv", "more lines (", "bytes) not shown"}},
	} {
		st, h := store.New(), NewHistory()
		st.PutRepo(store.RepoState{Repo: "big", RepoID: "org/1", File: "ca-images-iac/big.yaml", Status: vocab.StatusDrifted})
		h.Overlays("big", Seen{File: "ca-images-iac/big.yaml", Revision: "r1", DesiredHash: "sha256:aaaa", Desired: &overlay.Overlay{Packages: []string{"curl"}}, Live: &tc.live})
		p, err := New(Options{Now: func() time.Time { return now }, Org: "acme.com"})
		if err != nil {
			t.Fatal(err)
		}
		state, _ := st.Repo("big")
		d, _ := h.Detail("big")
		var buf bytes.Buffer
		if err := p.Render(&buf, state, d); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > 2*maxBlock {
			t.Errorf("%s: the page is %d bytes", tc.name, buf.Len())
		}
		live := byID(t, buf.String())["live"]
		for _, w := range tc.want {
			if !strings.Contains(live, w) {
				t.Errorf("%s: the live overlay does not show %q:\n%.500s", tc.name, w, live)
			}
		}
	}
}

func TestBounded(t *testing.T) {
	long := strings.Repeat("é", maxLine) // 2 bytes each: the cut falls inside a character
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a: b\n", "a: b\n"},
		{"a: " + long + "\nb: c\n", "a: " + strings.Repeat("é", (linePrefix-3)/2) + "… (line of 2052 bytes, sha256:" + fmt.Sprintf("%x", sha256Prefix("a: "+long+"\n")) + ", shortened)\nb: c\n"},
	} {
		if got := bounded(tc.in); got != tc.want {
			t.Errorf("bounded(%.40q) = %.300q, want %.300q", tc.in, got, tc.want)
		}
	}
}

func sha256Prefix(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:6]
}
