package reconciler

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// MarkdownMarker is the first line of the Markdown plan, a hidden HTML
// comment by which a CI job finds the comment it posted before, to update it
// instead of adding another.
const MarkdownMarker = "<!-- ca-reconciler-plan -->"

// DefaultMarkdownLimit is the most bytes WriteMarkdown writes unless told
// otherwise. GitHub refuses a comment body over 65,536 characters; the rest
// is left for the lines a workflow adds around the plan.
const DefaultMarkdownLimit = 60000

// Limits on what one value or one section may take in the Markdown plan, so
// that a hostile or huge file cannot push every other repo out of the
// comment.
const (
	markdownMaxName  = 200 // runes of a repo name, file name or other inline value
	markdownMaxLine  = 500 // runes of one diff or problem line
	markdownMaxLines = 200 // lines of one code block
)

// MarkdownOptions adds to the plan what the Markdown summary shows beside it.
type MarkdownOptions struct {
	// Org is the organization the plan is for, shown in the headline.
	Org string
	// Checks are the results of checks of the files beyond the overlay's own
	// rules (the package check against the organization's APK index), shown
	// in the section of their repo.
	Checks []Check
	// Limit is the most bytes written; zero means DefaultMarkdownLimit. Repo
	// sections that do not fit are counted in a closing line instead.
	Limit int
}

// Check is the result of one check of a repo's file that is not an overlay
// rule, such as whether every package resolves for every architecture.
type Check struct {
	Repo string
	// Name names the check ("packages").
	Name   string
	Passed bool
	// Details are its findings, one line each.
	Details []string
}

// WriteMarkdown prints the plan as a comment for a pull request or a CI job
// summary: the MarkdownMarker, a headline, the number of repos per action,
// then one collapsible <details> section per repo that is not in sync (its
// diff, every problem with file:line:col, its checks), invalid and missing
// repos first, and the orphans in one section.
//
// Everything taken from files or the API (repo and file names, values,
// messages) is either HTML-escaped inside a raw HTML line, with control and
// invisible characters shown as escapes so it cannot end the line, or
// printed inside a code fence longer than any run of backticks it holds; so
// no name or value can close a section, start Markdown, or inject HTML.
func (p Plan) WriteMarkdown(w io.Writer, opts MarkdownOptions) error {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultMarkdownLimit
	}
	checks := map[string][]Check{}
	for _, c := range opts.Checks {
		checks[c.Repo] = append(checks[c.Repo], c)
	}

	var b strings.Builder
	b.WriteString(MarkdownMarker + "\n")
	b.WriteString("### ca-reconciler plan\n\n")
	b.WriteString("<p><b>" + verdict(p) + "</b>")
	if p.Revision != "" {
		b.WriteString(" Revision <code>" + htmlText(p.Revision, markdownMaxName) + "</code>")
		if opts.Org != "" {
			b.WriteString(",")
		} else {
			b.WriteString(".")
		}
	}
	if opts.Org != "" {
		if p.Revision == "" {
			b.WriteString(" Organization")
		} else {
			b.WriteString(" organization")
		}
		b.WriteString(" <code>" + htmlText(opts.Org, markdownMaxName) + "</code>.")
	}
	b.WriteString("</p>\n\n")

	s := p.Summary()
	b.WriteString("| action | repos |\n| --- | ---: |\n")
	for _, row := range []struct {
		name string
		n    int
	}{
		{"update", s.Update}, {"reset", s.Reset}, {"in sync", s.Noop},
		{"invalid", s.Invalid}, {"missing", s.Missing}, {"orphan (left untouched)", s.Orphan},
	} {
		fmt.Fprintf(&b, "| %s | %d |\n", row.name, row.n)
	}
	// the lifecycle's rows, only when the plan has such repos
	for _, row := range []struct {
		name string
		n    int
	}{
		{"create", s.Create}, {"prune", s.Prune}, {"suspended (not written)", s.Suspended},
	} {
		if row.n > 0 {
			fmt.Fprintf(&b, "| %s | %d |\n", row.name, row.n)
		}
	}
	if s.Stalled > 0 {
		fmt.Fprintf(&b, "\n%d of the repos to write %s stalled: %s not written again until %s file changes.\n",
			s.Stalled, plural(s.Stalled, "is", "are"), plural(s.Stalled, "it is", "they are"), plural(s.Stalled, "its", "their"))
	}

	sections := p.markdownSections(checks)
	// Room for the closing line about sections left out.
	const reserve = 200
	for i, sec := range sections {
		if b.Len()+len(sec)+reserve > limit {
			left := len(sections) - i
			fmt.Fprintf(&b, "\n<p><i>%d more section%s not shown: the comment would be too long. Run <code>ca-reconciler plan</code> for the whole plan.</i></p>\n",
				left, plural(left, "", "s"))
			break
		}
		b.WriteString(sec)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// verdict is the plan's headline sentence.
func verdict(p Plan) string {
	s := p.Summary()
	switch {
	case p.SettingsErr != nil:
		return "The settings file is invalid: nothing is written, created or pruned."
	case p.HasErrors() && s.Invalid+s.Missing == 0:
		return fmt.Sprintf("%d write%s refused.", s.Refused, plural(s.Refused, "", "s"))
	case p.HasErrors():
		n := s.Invalid + s.Missing
		return fmt.Sprintf("%d file%s cannot be applied.", n, plural(n, "", "s"))
	case p.HasChanges():
		n := s.Update + s.Reset + s.Create + s.Prune
		return fmt.Sprintf("%d repo%s to write.", n, plural(n, "", "s"))
	}
	if n := p.suspendedDrifted(); n > 0 {
		return fmt.Sprintf("Nothing to write: %d suspended repo%s differ%s from Git.", n, plural(n, "", "s"), plural(n, "s", ""))
	}
	return "In sync: nothing to write."
}

// markdownSections renders one section per repo that is not in sync, errors
// first, then writes, then one section for all orphans, and a section for
// an in-sync repo only when one of its checks failed.
func (p Plan) markdownSections(checks map[string][]Check) []string {
	var errs, writes, others []string
	var orphans []string
	if sec := p.settingsSection(); sec != "" {
		errs = append(errs, sec)
	}
	for _, c := range p.Changes {
		if c.Action == vocab.ActionSuspended && c.Would.Writes() {
			others = append(others, changeSection(c, checks[c.Repo]))
			continue
		}
		switch c.Action {
		case vocab.ActionInvalid, vocab.ActionMissing:
			errs = append(errs, changeSection(c, checks[c.Repo]))
		case vocab.ActionUpdate, vocab.ActionReset, vocab.ActionCreate, vocab.ActionPrune:
			writes = append(writes, changeSection(c, checks[c.Repo]))
		case vocab.ActionOrphan:
			orphans = append(orphans, c.Repo)
		default:
			if len(c.Warnings) > 0 {
				others = append(others, changeSection(c, checks[c.Repo]))
				break
			}
			for _, ch := range checks[c.Repo] {
				if !ch.Passed {
					others = append(others, changeSection(c, checks[c.Repo]))
					break
				}
			}
		}
	}
	out := append(append(errs, writes...), others...)
	if len(orphans) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "\n<details><summary><b>orphan</b> %d repo%s with an overlay that no file names: left untouched</summary>\n\n",
			len(orphans), plural(len(orphans), "", "s"))
		codeBlock(&b, "text", orphans)
		b.WriteString("\n</details>\n")
		out = append(out, b.String())
	}
	return out
}

func changeSection(c Change, checks []Check) string {
	var b strings.Builder
	label := string(c.Action)
	switch {
	case c.Action == vocab.ActionNoop:
		label = "in sync"
	case c.Action == vocab.ActionSuspended:
		label = "suspended (would " + string(c.Would) + ")"
	case c.Action == vocab.ActionCreate:
		label = "create from " + c.Source
	case c.Held.Guard():
		label += " (refused)"
	}
	b.WriteString("\n<details><summary><b>" + htmlText(label, markdownMaxName) + "</b> <code>" + htmlText(c.Repo, markdownMaxName) + "</code>")
	if c.File != "" {
		b.WriteString(" from <code>" + htmlText(c.File, markdownMaxName) + "</code>")
	}
	errLines := errorLines(c)
	switch {
	case len(errLines) > 0:
		fmt.Fprintf(&b, ": %d problem%s", len(errLines), plural(len(errLines), "", "s"))
	case c.Drifted():
		fmt.Fprintf(&b, ": %d change%s", len(c.Diff), plural(len(c.Diff), "", "s"))
	}
	failed := 0
	for _, ch := range checks {
		if !ch.Passed {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed check%s", failed, plural(failed, "", "s"))
	}
	if len(c.Warnings) > 0 {
		fmt.Fprintf(&b, ", %d warning%s", len(c.Warnings), plural(len(c.Warnings), "", "s"))
	}
	if c.Stalled {
		b.WriteString(", stalled: not written again until the file changes")
	}
	b.WriteString("</summary>\n\n")
	if len(errLines) > 0 {
		codeBlock(&b, "text", errLines)
	}
	if len(c.Diff) > 0 {
		codeBlock(&b, "diff", diffStrings(c.Diff))
	} else if c.Action == vocab.ActionReset {
		b.WriteString("<p>The file is empty: the live overlay is cleared.</p>\n")
	}
	if notes := changeNotes(c); len(notes) > 0 {
		codeBlock(&b, "text", notes)
	}
	for _, ch := range checks {
		result := "passed"
		if !ch.Passed {
			result = "failed"
		}
		if len(errLines) > 0 || len(c.Diff) > 0 || c.Action == vocab.ActionReset || len(changeNotes(c)) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("<p>Check <b>" + htmlText(ch.Name, markdownMaxName) + "</b>: " + result + "</p>\n")
		if len(ch.Details) > 0 {
			b.WriteString("\n")
			codeBlock(&b, "text", ch.Details)
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// codeBlock writes lines as a fenced code block. Each line has its control
// characters escaped and is cut to markdownMaxLine runes; at most
// markdownMaxLines lines are shown. The fence is longer than any run of
// backticks in the lines, so no line can close it.
func codeBlock(b *strings.Builder, info string, lines []string) {
	shown := lines
	if len(shown) > markdownMaxLines {
		shown = shown[:markdownMaxLines]
	}
	out := make([]string, len(shown))
	longest := 0
	for i, l := range shown {
		out[i] = truncate(visible(l), markdownMaxLine)
		longest = max(longest, longestRun(out[i], '`'))
	}
	fence := strings.Repeat("`", max(3, longest+1))
	b.WriteString(fence + info + "\n")
	for _, l := range out {
		b.WriteString(l + "\n")
	}
	if n := len(lines) - len(shown); n > 0 {
		fmt.Fprintf(b, "… %d more line%s\n", n, plural(n, "", "s"))
	}
	b.WriteString(fence + "\n")
}

// htmlText renders untrusted text for a raw HTML line of the Markdown: cut
// to max runes, control and invisible characters escaped (so it cannot end
// the line, and with it the HTML block), then HTML-escaped.
func htmlText(s string, max int) string {
	return html.EscapeString(truncate(visible(s), max))
}

// visible escapes every character that is not graphic or is an invisible
// format character (such as a bidirectional override), Go-style: "\n",
// "\t", "\x00", "\u202e". Invalid UTF-8 bytes become "\xff".
func visible(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case needsEscape(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r) || (r != ' ' && unicode.IsSpace(r))
}

// truncate cuts s to max runes, marking the cut with "…".
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
