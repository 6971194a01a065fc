package statuspage_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ca-reconciler/ca-reconciler/statuspage"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := now.Add(-d)
	return &t
}

func sample() store.Status {
	return store.Status{
		Org: "acme.example", OrgID: "c0ffee", Mode: vocab.ModeApply, Ref: "main",
		Revision: "0123456789abcdef0123456789abcdef01234567", Verified: true, Ready: true,
		LastFetch: now.Add(-30 * time.Second),
		LastCycle: &store.CycleInfo{Trigger: "interval", Started: now.Add(-32 * time.Second), Finished: now.Add(-30 * time.Second), Result: "partial", Writes: 1},
		Files:     store.FileCounts{Valid: 4, Invalid: 1, Ignored: 1, Warnings: 1},
		Ignored:   []store.IgnoredFile{{Path: "ca-images-iac/README.md", Reason: vocab.IgnoredExtension}},
		Repos: []store.RepoState{
			{Repo: "jdk", File: "ca-images-iac/jdk.yaml", Status: "failed", DesiredHash: "sha256:aaaaaaaaaaaaaaaaaaaa", LiveHash: "bbbbbbbbbbbbbbbbbbbb",
				Diff: []string{"contents.packages: + jq"}, DriftSince: at(10 * time.Minute), WriteError: "writing jdk: PermissionDenied"},
			{Repo: "nginx", File: "ca-images-iac/nginx.yaml", Status: "drifted", DesiredHash: "cccccccccccccccccccc", LiveHash: "dddddddddddddddddddd",
				Diff: []string{"environment.APP_ENV: production → staging"}, DriftSince: at(5 * time.Minute)},
			{Repo: "node", File: "ca-images-iac/node.yaml", Status: "synced", DesiredHash: "eeeeeeeeeeeeeeeeeeee", LiveHash: "eeeeeeeeeeeeeeeeeeee",
				LastWrite: at(2 * time.Hour), LastBuild: &store.BuildInfo{ID: "b1", Result: "failure", Finished: now.Add(-90 * time.Minute), Seconds: 312},
				Warnings: []string{`ca-images-iac/node.yaml:4:11: warning: accounts.run-as: user "bob" is defined neither in accounts.users nor by Chainguard's base images`}, UnknownFields: 2},
			{Repo: "old", Status: "orphan", LiveHash: "ffffffffffffffffffff"},
			{Repo: "ghost", File: "ca-images-iac/ghost.yaml", Status: "missing", Error: "ca-images-iac/ghost.yaml: repo ghost does not exist in acme.example"},
			{Repo: "python", File: "ca-images-iac/python.yaml", Status: "stalled", Writes: 3},
		},
	}
}

func render(t *testing.T, s store.Status) (string, *html.Node) {
	t.Helper()
	p, err := statuspage.New(statuspage.Options{Now: func() time.Time { return now }, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Render(&buf, s); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("the page is not HTML: %v", err)
	}
	return buf.String(), doc
}

// walk calls f on every node.
func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// text is the text content of a node.
func text(n *html.Node) string {
	var b strings.Builder
	var visit func(*html.Node)
	visit = func(c *html.Node) {
		switch {
		case c.Type == html.ElementNode && (c.Data == "style" || c.Data == "head"):
			return
		case c.Type == html.TextNode:
			b.WriteString(c.Data)
		case c.Type == html.ElementNode:
			b.WriteString(" ")
		}
		for cc := c.FirstChild; cc != nil; cc = cc.NextSibling {
			visit(cc)
		}
	}
	visit(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// rows maps each repo row's id to its text, and the following detail row's.
func rows(doc *html.Node) map[string]string {
	out := map[string]string{}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "tr" || !strings.HasPrefix(attr(n, "id"), "repo-") {
			return
		}
		s := text(n)
		for next := n.NextSibling; next != nil; next = next.NextSibling {
			if next.Type == html.ElementNode {
				if next.Data == "tr" && attr(next, "class") == "detail" {
					s += " | " + text(next)
				}
				break
			}
		}
		out[strings.TrimPrefix(attr(n, "id"), "repo-")] = s
	})
	return out
}

// noActiveContent fails on any element or attribute that could run code.
func noActiveContent(t *testing.T, doc *html.Node) {
	t.Helper()
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "img", "iframe", "object", "embed", "form", "svg":
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			url := a.Key == "href" || a.Key == "src" || a.Key == "action"
			if strings.HasPrefix(a.Key, "on") || url && strings.Contains(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("<%s> has attribute %s=%q", n.Data, a.Key, a.Val)
			}
		}
	})
}

func TestRendersEachRepo(t *testing.T) {
	out, doc := render(t, sample())
	noActiveContent(t, doc)
	got := rows(doc)
	want := map[string][]string{
		"jdk":   {"jdk", "failed", "ca-images-iac/jdk.yaml", "aaaaaaaaaaaa / bbbbbbbbbbbb", "2030-01-02 02:54:05 UTC (10m0s ago)", "writing jdk: PermissionDenied", "contents.packages: + jq"},
		"nginx": {"nginx", "drifted", "cccccccccccc / dddddddddddd", "(5m0s ago)", "never", "none seen", "environment.APP_ENV: production → staging"},
		"node": {"node", "synced", "eeeeeeeeeeee / eeeeeeeeeeee", "2030-01-02 01:04:05 UTC (2h0m0s ago)", "failure 2030-01-02 01:34:05 UTC (1h30m0s ago), took 5m12s",
			`| ca-images-iac/node.yaml:4:11: warning: accounts.run-as: user "bob" is defined neither in accounts.users nor by Chainguard's base images the live overlay holds 2 field(s) this version does not know; they are kept`},
		"old":    {"old", "orphan", "none", "- / ffffffffffff"},
		"ghost":  {"ghost", "missing", "repo ghost does not exist in acme.example"},
		"python": {"python", "stalled", "(3 writes of this file)"},
	}
	if len(got) != len(want) {
		t.Errorf("%d repo rows, want %d: %v", len(got), len(want), got)
	}
	for repo, parts := range want {
		row, ok := got[repo]
		if !ok {
			t.Errorf("no row for %s", repo)
			continue
		}
		for _, p := range parts {
			if !strings.Contains(row, p) {
				t.Errorf("row %s = %q, want it to contain %q", repo, row, p)
			}
		}
	}
	body := text(doc)
	for _, p := range []string{
		"Organization acme.example (c0ffee), mode apply. 5 managed repos: 1 synced, 1 drifted, 1 failed, 1 stalled, 1 missing, 1 orphan",
		"Revision 0123456789ab",
		"Last Git read 2030-01-02 03:03:35 UTC (30s ago)",
		"Last cycle partial 2030-01-02 03:03:35 UTC (30s ago), trigger interval, took 2s, 1 write",
		"Files 4 valid, 1 invalid, 1 ignored, 1 warning (applied)",
		"ca-images-iac/README.md: not a .yaml or .yml file",
		"ca-reconciler v1.2.3",
	} {
		if !strings.Contains(body, p) {
			t.Errorf("page text lacks %q:\n%s", p, body)
		}
	}
	if !strings.Contains(out, `<meta http-equiv="refresh" content="30">`) {
		t.Errorf("no meta refresh")
	}
	if !strings.Contains(out, `class="mismatch"`) {
		t.Errorf("differing live hash not marked")
	}
}

func TestEscapesHostileValues(t *testing.T) {
	s := sample()
	hostile := []string{
		`<script>alert("repo")</script>`,
		`x"><img src=x onerror=alert(1)>.yaml`,
		`</pre><script>alert('diff')</script>`,
		`javascript:alert(1)`,
		`<iframe src="//evil.example"></iframe>`,
	}
	s.Org = hostile[4]
	s.Revision = hostile[0]
	s.LastCycle.Error = hostile[2]
	s.Ignored = []store.IgnoredFile{{Path: hostile[1], Reason: vocab.IgnoreReason(hostile[2])}}
	s.Repos = append(s.Repos, store.RepoState{
		Repo: hostile[0], File: hostile[1], Status: vocab.Status(hostile[1]), DesiredHash: hostile[3], LiveHash: hostile[0],
		Diff: []string{hostile[2], hostile[3], hostile[4]}, Error: hostile[2], WriteError: hostile[1], Warnings: []string{hostile[0], hostile[2]},
		LastBuild: &store.BuildInfo{Result: vocab.BuildResult(hostile[1])},
	})
	out, doc := render(t, s)
	noActiveContent(t, doc)
	for _, raw := range []string{"<script", "<img", "<iframe"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw %q in the page", raw)
		}
	}
	// Every hostile value is on the page as text.
	body := text(doc)
	for _, h := range hostile {
		if !strings.Contains(body, strings.Join(strings.Fields(h), " ")) {
			t.Errorf("page text lacks %q", h)
		}
	}
	if _, ok := rows(doc)[hostile[0]]; !ok {
		t.Errorf("no row for the hostile repo")
	}
}

func TestBeforeTheFirstCycle(t *testing.T) {
	out, doc := render(t, store.Status{Org: "acme.example", Mode: vocab.ModeDetect, Verified: true})
	if !strings.Contains(out, "<title>ca-reconciler: acme.example</title>") {
		t.Errorf("no title")
	}
	body := text(doc)
	for _, p := range []string{"No repos yet", "Last cycle none finished yet", "Ready no: first cycle not finished", "Last Git read never", "mode detect"} {
		if !strings.Contains(body, p) {
			t.Errorf("page text lacks %q:\n%s", p, body)
		}
	}
}

func TestHandler(t *testing.T) {
	p, err := statuspage.New(statuspage.Options{Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler(sample))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q: want scripts forbidden", csp)
	}
	if !strings.Contains(buf.String(), `id="repo-nginx"`) || strings.Contains(buf.String(), "http-equiv") {
		t.Errorf("page without the nginx row, or with a refresh although it is off")
	}
}

// The package check's last result is on the page: refused repos (linked
// to their rows, each with its problems), a skipped check and its reason.
func TestPackageCheck(t *testing.T) {
	s := sample()
	s.PackageCheck = &store.PackageCheckInfo{Status: vocab.PackageCheckChecked, LastCheck: now.Add(-30 * time.Second), Checked: 3,
		IndexReadAt: now.Add(-5 * time.Minute), Refused: []string{"api"}}
	s.Repos = append(s.Repos, store.RepoState{Repo: "api", File: "ca-images-iac/api.yaml", Status: vocab.StatusInvalid, CheckRefused: true,
		Error:      `ca-images-iac/api.yaml:3:7: contents.packages[0]: "mongo-9.0" is not available to acme.example on x86_64 and aarch64 (did you mean mongo-8.0?)`,
		CheckNotes: []string{"no successful build in the last 24h0m0s tells the base image; the file's packages were checked alone"}})
	_, doc := render(t, s)
	body := text(doc)
	for _, want := range []string{
		"Package check checked 2030-01-02 03:03:35 UTC (30s ago), 3 repos to write checked; package index read 2030-01-02 02:59:05 UTC (5m0s ago) 1 refused api: not written (the reasons are below)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page text lacks %q:\n%s", want, body)
		}
	}
	row := rows(doc)["api"]
	for _, want := range []string{
		"invalid (refused by the package check: not written)",
		`| ca-images-iac/api.yaml:3:7: contents.packages[0]: "mongo-9.0" is not available to acme.example on x86_64 and aarch64 (did you mean mongo-8.0?) package check: no successful build in the last 24h0m0s tells the base image; the file's packages were checked alone`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("row api = %q, want it to contain %q", row, want)
		}
	}

	s.PackageCheck = &store.PackageCheckInfo{Status: vocab.PackageCheckSkipped, LastCheck: now.Add(-30 * time.Second), Checked: 1, Capability: "apk.list",
		Reason: "listing packages needs the apk.list capability: rpc error: code = PermissionDenied"}
	_, doc = render(t, s)
	if want := "Package check skipped 2030-01-02 03:03:35 UTC (30s ago), 1 repo to write checked; the identity lacks apk.list, so nothing is refused listing packages needs the apk.list capability: rpc error: code = PermissionDenied"; !strings.Contains(text(doc), want) {
		t.Errorf("page text lacks %q:\n%s", want, text(doc))
	}
	s.PackageCheck = &store.PackageCheckInfo{}
	_, doc = render(t, s)
	if want := "Package check on; no repo to write has needed it yet"; !strings.Contains(text(doc), want) {
		t.Errorf("page text lacks %q", want)
	}
}
