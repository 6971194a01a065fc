package repopage

import _ "embed"

// pageTemplate is the page, an html/template (every value is escaped),
// kept as its own file so that it reads and diffs as HTML.
//
//go:embed page.html.tmpl
var pageTemplate string
