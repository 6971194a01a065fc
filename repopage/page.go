package repopage

import (
	"crypto/sha256"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ca-reconciler/ca-reconciler/internal/htmlpage"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Pattern is the route of the page.
const Pattern = "GET /repos/{name}"

// Options tune the page.
type Options struct {
	// Now is the clock for "ago" times; nil means time.Now.
	Now     func() time.Time
	Version string
	// Org is the organization, for the title.
	Org string
}

// Page renders repo pages. Create it with New.
type Page struct {
	tmpl *template.Template
	opts Options
}

// New parses the template.
func New(opts Options) (*Page, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Page{opts: opts}
	t, err := htmlpage.Parse("repo page", pageTemplate, opts.Now, template.FuncMap{
		"duration":    func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"badge":       badge,
		"done":        done,
		"unknownNote": store.UnknownFieldsNote,
	})
	if err != nil {
		return nil, err
	}
	p.tmpl = t
	return p, nil
}

// view is what the template sees.
type view struct {
	Org     string
	State   store.RepoState
	Detail  Detail
	Desired string
	Live    string
	// FileGone is set when the repo's file was deleted: it is pruned, or
	// waits for a prune.
	FileGone  bool
	Generated time.Time
	Version   string
}

// Render writes the page of one repo.
func (p *Page) Render(w io.Writer, st store.RepoState, d Detail) error {
	v := view{Org: p.opts.Org, State: st, Detail: d, Generated: p.opts.Now(), Version: p.opts.Version,
		FileGone: st.Status == vocab.StatusPruned || st.Would == vocab.ActionPrune}
	if d.HasDesired {
		v.Desired = yamlOf(d.Desired)
	}
	if d.HasLive {
		v.Live = yamlOf(d.Live)
	}
	if err := p.tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("rendering the repo page: %w", err)
	}
	return nil
}

func yamlOf(o overlay.Overlay) string {
	b, err := overlay.Marshal(o)
	if err != nil {
		return "# cannot be shown as YAML: " + err.Error()
	}
	return bounded(string(b))
}

// The overlays' YAML on the page is bounded, so that one repo never makes
// its page large: a live overlay is not held to the file's limits (a
// Console edit can hold a 5 MB annotation), and a valid file may still hold
// 512 KiB of keys. A line over maxLine bytes shows its first linePrefix
// bytes, its length and a short SHA-256; past maxBlock bytes the block ends
// with what was left out.
const (
	maxLine    = 1 << 10
	linePrefix = 128
	maxBlock   = 128 << 10
)

// bounded is the YAML y cut to the page's limits, each cut marked.
func bounded(y string) string {
	if y == "" {
		return ""
	}
	var b strings.Builder
	lines := strings.SplitAfter(strings.TrimSuffix(y, "\n"), "\n")
	for i, line := range lines {
		if len(line) > maxLine {
			n := linePrefix
			for n > 0 && !utf8.RuneStart(line[n]) {
				n--
			}
			sum := sha256.Sum256([]byte(line))
			line = fmt.Sprintf("%s… (line of %d bytes, sha256:%x, shortened)\n", line[:n], len(line), sum[:6])
		} else if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		if b.Len()+len(line) > maxBlock {
			rest := 0
			for _, l := range lines[i:] {
				rest += len(l)
			}
			fmt.Fprintf(&b, "# … %d more lines (%d bytes) not shown\n", len(lines[i:]), rest)
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// Handler serves Pattern: 404 for a repo the store does not know.
func (p *Page) Handler(st *store.Store, hist *History) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		state, ok := st.Repo(name)
		if !ok {
			http.Error(w, "no such repo", http.StatusNotFound)
			return
		}
		d, _ := hist.Detail(name)
		htmlpage.Serve(w, "the repo page", func(w io.Writer) error { return p.Render(w, state, d) })
	})
}

// badge maps a status or result to a CSS class.
func badge(s string) string {
	switch s {
	case string(vocab.StatusSynced), string(vocab.BuildSuccess):
		return "ok"
	case string(vocab.StatusDrifted), "pending":
		return "warn"
	case string(vocab.StatusOrphan), string(vocab.StatusSuspended), string(vocab.StatusPruned):
		return "info"
	}
	return "bad"
}

// done is the result of a write that went through, by its action.
func done(action string) string {
	switch vocab.Action(action) {
	case vocab.ActionCreate:
		return "created"
	case vocab.ActionPrune:
		return "pruned"
	}
	return "written"
}
