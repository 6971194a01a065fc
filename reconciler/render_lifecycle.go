package reconciler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// lifecycleText is what the text plan says before the repos about the
// settings file and pruning; "" when there is nothing to say.
func (p Plan) lifecycleText() string {
	var b strings.Builder
	if p.SettingsErr != nil {
		fmt.Fprintf(&b, "! settings %s: invalid: nothing is written, created or pruned until it is fixed\n", p.SettingsFile)
		for _, l := range ProblemLines(p.SettingsErr) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	for _, l := range warningLines(p.SettingsWarnings) {
		fmt.Fprintf(&b, "  settings %s\n", l)
	}
	if p.Prune.Held != "" && p.SettingsErr == nil {
		fmt.Fprintf(&b, "! pruning refused: %s\n", p.Prune.Reason)
	}
	return b.String()
}

// writeLifecycleText prints a create, a prune or a suspended repo in the
// text plan.
func writeLifecycleText(b *strings.Builder, c Change) {
	suffix := ""
	if c.Stalled {
		suffix = ", stalled: not written again until the file changes"
	}
	diff := true
	switch c.Action {
	case vocab.ActionCreate:
		fmt.Fprintf(b, "+ %s (%s): create from source %s%s\n", c.Repo, c.File, c.Source, suffix)
	case vocab.ActionPrune:
		fmt.Fprintf(b, "- %s (%s, deleted): prune: reset to the empty overlay%s\n", c.Repo, c.File, suffix)
	case vocab.ActionSuspended:
		if !c.Would.Writes() {
			fmt.Fprintf(b, "= %s (%s): suspended, in sync\n", c.Repo, c.File)
			diff = false
			break
		}
		file := c.File
		if c.Would == vocab.ActionPrune {
			file += ", deleted"
		}
		fmt.Fprintf(b, "~ %s (%s): suspended, drifted: would %s; not written while suspended\n", c.Repo, file, c.Would)
	}
	if c.Held.Guard() {
		fmt.Fprintf(b, "    ! %s\n", errText(c.Err))
	}
	if diff {
		for _, d := range c.Diff {
			fmt.Fprintf(b, "    %s\n", d)
		}
	}
}

// ProblemLines renders an error's overlay problems one per line (the
// error's own lines when it holds none); nil for nil. Plans and
// notifications show a settings file's errors with it.
func ProblemLines(err error) []string {
	if err == nil {
		return nil
	}
	var ps overlay.Problems
	if errors.As(err, &ps) {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

func warningLines(ws overlay.Problems) []string {
	if len(ws) == 0 {
		return nil
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

// settingsSection is the Markdown plan's section about the settings file
// when it is invalid or has warnings; "" otherwise.
func (p Plan) settingsSection() string {
	errs, warns := ProblemLines(p.SettingsErr), warningLines(p.SettingsWarnings)
	if len(errs) == 0 && len(warns) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n<details><summary><b>settings</b> <code>" + htmlText(p.SettingsFile, markdownMaxName) + "</code>")
	if len(errs) > 0 {
		fmt.Fprintf(&b, ": invalid, %d problem%s: nothing is written, created or pruned", len(errs), plural(len(errs), "", "s"))
	} else {
		fmt.Fprintf(&b, ": %d warning%s", len(warns), plural(len(warns), "", "s"))
	}
	b.WriteString("</summary>\n\n")
	codeBlock(&b, "text", append(errs, warns...))
	b.WriteString("\n</details>\n")
	return b.String()
}

// suspendedDrifted counts the suspended repos that differ from Git.
func (p Plan) suspendedDrifted() int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == vocab.ActionSuspended && c.Would.Writes() {
			n++
		}
	}
	return n
}
