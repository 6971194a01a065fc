package overlay

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with an overlay, located as precisely as the
// input allows. Line and Column are 1-based and zero when unknown (for
// example, for an overlay read from the API).
type Problem struct {
	File    string
	Line    int
	Column  int
	Field   string // dotted path, e.g. "environment.CHAINGUARD_X" or "accounts.users[1].uid"
	Message string
}

// String renders the problem as "file:line:col: field: message", dropping the
// parts that are unknown: YAML syntax errors, for example, have a line but no
// column ("file:line: message").
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one input. It is an error when not empty.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are no problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sortByPosition orders problems by line, then column, keeping the order in
// which they were found for problems at the same place.
func sortByPosition(ps Problems) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}
