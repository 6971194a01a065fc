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
	"golang.org/x/net/html"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

const hostile = `<img src=x onerror=alert(1)>&"'`

// world is one repo of each status, with its history, plus a repo whose
// name, file and values are hostile.
func world(t *testing.T) (*store.Store, *History) {
	t.Helper()
	st, h := store.New(), NewHistory()
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	curl := overlay.Overlay{Packages: []string{"curl"}}
	jq := overlay.Overlay{Packages: []string{"curl", "jq"}}
	for _, s := range []store.RepoState{
		{Repo: "synced-repo", RepoID: "org/1", File: "ca-images-iac/synced-repo.yaml", Status: vocab.StatusSynced, DesiredHash: "sha256:aaaa", LiveHash: "sha256:aaaa", LastWrite: ago(time.Hour)},
		{Repo: "drifted-repo", RepoID: "org/2", File: "ca-images-iac/drifted-repo.yaml", Status: vocab.StatusDrifted, DesiredHash: "sha256:bbbb", LiveHash: "sha256:cccc", Diff: []string{"- package jq"}, DriftSince: ago(time.Minute)},
		{Repo: "failed-repo", RepoID: "org/3", File: "ca-images-iac/failed-repo.yaml", Status: vocab.StatusFailed, Diff: []string{"+ package jq"}, WriteError: "writing repo failed-repo: PermissionDenied"},
		{Repo: "stalled-repo", RepoID: "org/4", File: "ca-images-iac/stalled-repo.yaml", Status: vocab.StatusStalled, Writes: 3, Diff: []string{"+ package jq"}},
		{Repo: "invalid-repo", RepoID: "org/5", File: "ca-images-iac/invalid-repo.yaml", Status: vocab.StatusInvalid, Error: "ca-images-iac/invalid-repo.yaml:2:3: environment.CHAINGUARD_X: reserved"},
		{Repo: "missing-repo", File: "ca-images-iac/missing-repo.yaml", Status: vocab.StatusMissing, Error: `repo "missing-repo" does not exist in the organization`},
		{Repo: "orphan-repo", RepoID: "org/7", Status: vocab.StatusOrphan, LiveHash: "sha256:dddd"},
		{Repo: hostile, RepoID: "org/8", File: "ca-images-iac/" + hostile + ".yaml", Status: vocab.StatusDrifted, Diff: []string{"+ annotation x: " + hostile}},
	} {
		st.PutRepo(s)
	}
	h.Overlays("synced-repo", "ca-images-iac/synced-repo.yaml", "0123456789abcdef0123456789abcdef01234567", "sha256:aaaa", &curl, &curl)
	h.AddWrite("synced-repo", Write{At: now.Add(-time.Hour), Action: "update", Attempts: 1, Converged: true, Diff: []string{"+ package curl"}})
	h.AddBuild("synced-repo", Build{ID: "build-ok", Result: "success", Started: now.Add(-time.Hour), Finished: now.Add(-59 * time.Minute)})
	h.Overlays("drifted-repo", "ca-images-iac/drifted-repo.yaml", "r2", "sha256:bbbb", &curl, &jq)
	h.Overlays("failed-repo", "ca-images-iac/failed-repo.yaml", "r2", "sha256:eeee", &jq, &curl)
	h.AddWrite("failed-repo", Write{At: now.Add(-time.Minute), Action: "update", Attempts: 3, Error: "writing repo failed-repo: PermissionDenied"})
	h.Overlays("stalled-repo", "ca-images-iac/stalled-repo.yaml", "r2", "sha256:ffff", &jq, &curl)
	for range 3 {
		h.AddWrite("stalled-repo", Write{At: now.Add(-time.Minute), Action: "update", Attempts: 1, Diff: []string{"+ package jq"}})
	}
	h.AddBuild("stalled-repo", Build{ID: "build-bad", Result: "failure", Started: now.Add(-2 * time.Minute), Finished: now.Add(-time.Minute),
		LogTail: []string{`ERROR: package "nosuch" not found`, hostile}})
	h.Overlays("invalid-repo", "ca-images-iac/invalid-repo.yaml", "r2", "invalid:1234", nil, &curl)
	h.Overlays("missing-repo", "ca-images-iac/missing-repo.yaml", "r2", "sha256:aaaa", &curl, nil)
	h.Overlays("orphan-repo", "", "r2", "", nil, &jq)
	evil := overlay.Overlay{Annotations: map[string]string{"x": hostile}}
	h.Overlays(hostile, "ca-images-iac/"+hostile+".yaml", "r2", "sha256:9999", &evil, &overlay.Overlay{})
	return st, h
}

func server(t *testing.T) *httptest.Server {
	t.Helper()
	st, h := world(t)
	p, err := New(Options{Now: func() time.Time { return now }, Org: "acme.com", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Pattern, p.Handler(st, h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// byID returns the text of every element with an id, from a parsed page.
func byID(t *testing.T, page string) map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
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
}

func checkPage(t *testing.T, repo, page string) {
	t.Helper()
	got := byID(t, page)
	for id, w := range want[repo] {
		if got[id] != w {
			t.Errorf("%s: #%s = %q, want %q", repo, id, got[id], w)
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
// build and the write history are there.
func TestPagesInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not on PATH (apt-get install -y chromium)")
		}
		t.Skip("chromium not on PATH (apt-get install -y chromium)")
	}
	srv := server(t)
	for repo := range want {
		t.Run(repo, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
				"--dump-dom", srv.URL+"/repos/"+url.PathEscape(repo))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, stderr.String())
			}
			dom := stdout.String()
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
			}
		})
	}
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
		h.Overlays("big", "ca-images-iac/big.yaml", "r1", "sha256:aaaa", &overlay.Overlay{Packages: []string{"curl"}}, &tc.live)
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
