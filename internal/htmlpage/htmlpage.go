// Package htmlpage is what ca-reconciler's two HTML pages (statuspage's at /
// and repopage's at /repos/NAME) share: how a page is served, with the
// headers that forbid scripts, framing and caching, one stylesheet, and how
// a page shows times and hashes (Parse).
package htmlpage

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"
)

// style is the pages' one stylesheet, kept as its own file.
//
//go:embed style.css
var style string

// Parse parses a page's template (what names the page in the error) with
// the functions both pages use, when, short, ago (how long before now, read
// from now) and style (the stylesheet, for the page's <style> element),
// and the page's own functions.
func Parse(what, text string, now func() time.Time, own template.FuncMap) (*template.Template, error) {
	funcs := template.FuncMap{
		"when":  When,
		"short": Short,
		"ago":   func(t time.Time) string { return Ago(now(), t) },
		"style": func() template.CSS { return template.CSS(style) },
	}
	maps.Copy(funcs, own)
	t, err := template.New(what).Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing the %s template: %w", what, err)
	}
	return t, nil
}

// Serve renders a page into memory and writes it with the pages' headers;
// a page that fails to render is a 500 naming what (e.g. "the status
// page"), with nothing of the page.
func Serve(w http.ResponseWriter, what string, render func(io.Writer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		http.Error(w, "rendering "+what+" failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// When renders a time in UTC, to the second; the zero time is "".
func When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// Ago renders how long before now t was: "4m10s ago", to the second under
// an hour and to the minute after; the zero time is "never".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Second:
		return "just now"
	case d < time.Hour:
		return d.Round(time.Second).String() + " ago"
	}
	return d.Round(time.Minute).String() + " ago"
}

// Short abbreviates a hash or revision to 12 characters, without an
// algorithm prefix ("sha256:").
func Short(s string) string {
	if _, h, ok := strings.Cut(s, ":"); ok {
		s = h
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
