// Package statuspage renders what ca-reconciler knows (the store's Status,
// served as JSON at /status) as one plain HTML page at /, for people
// who have no Grafana: the revision being reconciled, the last cycle, and
// each repo's file, status, desired and live overlay hashes, diff, last
// write and last build.
//
// The page is rendered on the server with html/template, so every value
// (repo names, file paths, diffs, error messages) is escaped; it has no
// JavaScript (its Content-Security-Policy forbids scripts) and refreshes
// itself with a meta refresh.
package statuspage

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/htmlpage"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// DefaultRefresh is how often the page reloads itself.
const DefaultRefresh = 30 * time.Second

// Options tune the page.
type Options struct {
	// Refresh is the meta refresh interval; zero means DefaultRefresh,
	// negative turns it off.
	Refresh time.Duration
	// Now is the clock used for "ago" times; nil means time.Now.
	Now func() time.Time
	// Version is shown in the footer.
	Version string
}

// Page renders status pages. Create it with New.
type Page struct {
	tmpl *template.Template
	opts Options
}

// New parses the page's template.
func New(opts Options) (*Page, error) {
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Page{opts: opts}
	t, err := htmlpage.Parse("status page", pageTemplate, opts.Now, template.FuncMap{
		"seconds":     seconds,
		"statusClass": statusClass,
		"cycleClass":  cycleClass,
		"buildClass":  buildClass,
		"pathEscape":  url.PathEscape,
		"unknownNote": store.UnknownFieldsNote,
		"checkClass":  checkClass,
	})
	if err != nil {
		return nil, err
	}
	p.tmpl = t
	return p, nil
}

// view is what the template sees.
type view struct {
	store.Status
	Summary      []count
	Refresh      int
	Version      string
	Generated    time.Time
	CycleSeconds float64
	ManagedRepos int
}

type count struct {
	Status vocab.Status
	N      int
}

// Render writes the page for s.
func (p *Page) Render(w io.Writer, s store.Status) error {
	v := view{Status: s, Version: p.opts.Version, Generated: p.opts.Now()}
	if p.opts.Refresh > 0 {
		v.Refresh = int(p.opts.Refresh.Round(time.Second) / time.Second)
		if v.Refresh < 1 {
			v.Refresh = 1
		}
	}
	if s.LastCycle != nil {
		v.CycleSeconds = s.LastCycle.Finished.Sub(s.LastCycle.Started).Seconds()
	}
	n := map[vocab.Status]int{}
	for _, r := range s.Repos {
		n[r.Status]++
		if r.Status.Managed() {
			v.ManagedRepos++
		}
	}
	for _, st := range vocab.Statuses() {
		if n[st] > 0 {
			v.Summary = append(v.Summary, count{st, n[st]})
		}
		delete(n, st)
	}
	var other []vocab.Status
	for st := range n {
		other = append(other, st)
	}
	slices.Sort(other)
	for _, st := range other {
		v.Summary = append(v.Summary, count{st, n[st]})
	}
	if err := p.tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("rendering the status page: %w", err)
	}
	return nil
}

// Handler serves the page for the status status returns.
func (p *Page) Handler(status func() store.Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		htmlpage.Serve(w, "the status page", func(w io.Writer) error { return p.Render(w, status()) })
	})
}

// seconds renders a duration in seconds as a rounded duration.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// statusClass maps a repo status to a CSS class; only known statuses get
// their own.
func statusClass(s vocab.Status) string {
	if s.Known() {
		return "st-" + string(s)
	}
	return "st-unknown"
}

// cycleClass maps a cycle result to a CSS class.
func cycleClass(r vocab.CycleResult) string {
	switch r {
	case vocab.CycleSuccess:
		return "ok"
	case vocab.CyclePartial:
		return "warn"
	default:
		return "bad"
	}
}

// checkClass maps a package check status to a CSS class: a skipped or
// unavailable check is a warning, never an error.
func checkClass(s vocab.PackageCheckStatus) string {
	if s == vocab.PackageCheckChecked {
		return "ok"
	}
	return "warn"
}

// buildClass maps a build result to a CSS class.
func buildClass(r vocab.BuildResult) string {
	if r.Failed() {
		return "bad"
	}
	return "ok"
}
