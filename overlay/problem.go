package overlay

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a problem stops a file from being applied.
type Severity uint8

// Severities. The zero value is an error.
const (
	// SeverityError: the file is not applied.
	SeverityError Severity = iota
	// SeverityWarning: the service accepts it and the file is applied, but
	// it is probably not what was meant (a run-as user no image defines, an
	// expired certificate).
	SeverityWarning
)

// String is "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with an overlay, located as precisely as the
// input allows. Line and Column are 1-based and zero when unknown (for
// example, for an overlay read from the API).
type Problem struct {
	Severity Severity
	File     string
	Line     int
	Column   int
	Field    string // dotted path, e.g. "environment.CHAINGUARD_X" or "accounts.users[1].uid"
	Message  string
}

// String renders the problem as "file:line:col: field: message", dropping the
// parts that are unknown: YAML syntax errors, for example, have a line but no
// column ("file:line: message"). A warning reads
// "file:line:col: warning: field: message".
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
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
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

// Sorted returns the problems ordered by file, line and column, keeping the
// order in which they were found for problems at the same place: how errors
// and warnings of one file are shown together. ps is not modified.
func (ps Problems) Sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}

// bySeverity splits problems into errors and warnings.
func (ps Problems) bySeverity() (errs, warnings Problems) {
	for _, p := range ps {
		if p.Severity == SeverityWarning {
			warnings = append(warnings, p)
		} else {
			errs = append(errs, p)
		}
	}
	return errs, warnings
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
