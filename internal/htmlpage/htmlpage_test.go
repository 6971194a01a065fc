package htmlpage_test

import (
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/htmlpage"
)

// TestStyleRendersAsIs checks that the stylesheet reaches a page's <style>
// element unescaped, and that the other functions render as documented.
func TestStyleRendersAsIs(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tmpl, err := htmlpage.Parse("test page", `<style>{{style}}</style><p>{{when .}}|{{ago .}}|{{short "sha256:0123456789abcdef"}}|{{own}}</p>`,
		func() time.Time { return now }, template.FuncMap{"own": func() string { return "mine" }})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, now.Add(-90*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"body { font-family: system-ui, sans-serif;",
		".st-synced, .ok { background: #d7f5dd;",
		"<p>2026-12-03 11:58:30 UTC|1m30s ago|0123456789ab|mine</p>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	if _, err := htmlpage.Parse("broken page", "{{nosuch}}", time.Now, nil); err == nil || !strings.Contains(err.Error(), "parsing the broken page template") {
		t.Errorf("a broken template: %v, want an error naming the page", err)
	}
	if strings.Contains(got, "ZgotmplZ") || strings.Contains(got, "&#") {
		t.Errorf("the stylesheet was escaped:\n%s", got)
	}
}
