package reconciler

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Summary counts a plan's changes by action.
type Summary struct {
	Update  int `json:"update"`
	Reset   int `json:"reset"`
	Noop    int `json:"noop"`
	Invalid int `json:"invalid"`
	Missing int `json:"missing"`
	Orphan  int `json:"orphan"`
	Stalled int `json:"stalled"`
	// Create, Prune and Suspended count the lifecycle's actions; Refused
	// the changes a guard holds back.
	Create    int `json:"create"`
	Prune     int `json:"prune"`
	Suspended int `json:"suspended"`
	Refused   int `json:"refused"`
}

// Summary counts the plan's changes.
func (p Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case vocab.ActionUpdate:
			s.Update++
		case vocab.ActionReset:
			s.Reset++
		case vocab.ActionNoop:
			s.Noop++
		case vocab.ActionInvalid:
			s.Invalid++
		case vocab.ActionMissing:
			s.Missing++
		case vocab.ActionOrphan:
			s.Orphan++
		case vocab.ActionCreate:
			s.Create++
		case vocab.ActionPrune:
			s.Prune++
		case vocab.ActionSuspended:
			s.Suspended++
		}
		if c.Stalled {
			s.Stalled++
		}
		if c.Held.Guard() {
			s.Refused++
		}
	}
	return s
}

// WriteText prints the plan for humans: one block per repo, its diff
// indented, and a summary line.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	if p.Revision != "" {
		fmt.Fprintf(&b, "revision %s\n\n", p.Revision)
	}
	if head := p.lifecycleText(); head != "" {
		b.WriteString(head + "\n")
	}
	for _, c := range p.Changes {
		switch c.Action {
		case vocab.ActionCreate, vocab.ActionPrune, vocab.ActionSuspended:
			writeLifecycleText(&b, c)
		case vocab.ActionNoop:
			fmt.Fprintf(&b, "= %s (%s): in sync\n", c.Repo, c.File)
		case vocab.ActionUpdate, vocab.ActionReset:
			stalled := ""
			if c.Stalled {
				stalled = ", stalled: not written again until the file changes"
			}
			fmt.Fprintf(&b, "~ %s (%s): %s%s\n", c.Repo, c.File, c.Action, stalled)
			if c.Held.Guard() {
				fmt.Fprintf(&b, "    ! %s\n", errText(c.Err))
			}
			for _, d := range c.Diff {
				fmt.Fprintf(&b, "    %s\n", d)
			}
		case vocab.ActionInvalid, vocab.ActionMissing:
			fmt.Fprintf(&b, "! %s (%s): %s\n", c.Repo, c.File, c.Action)
			for _, line := range errorLines(c) {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		case vocab.ActionOrphan:
			fmt.Fprintf(&b, "? %s: orphan: the repo has an overlay but no file names it; left untouched\n", c.Repo)
		}
		for _, line := range changeNotes(c) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	s := p.Summary()
	if line := p.PackageCheck.summary(); line != "" {
		fmt.Fprintf(&b, "\n%s\n", line)
	}
	fmt.Fprintf(&b, "\nPlan: %d to create, %d to update, %d to reset, %d to prune, %d in sync, %d suspended, %d invalid, %d missing, %d orphan.\n",
		s.Create, s.Update, s.Reset, s.Prune, s.Noop, s.Suspended, s.Invalid, s.Missing, s.Orphan)
	if s.Refused > 0 {
		fmt.Fprintf(&b, "%d refused: not written this cycle (see above).\n", s.Refused)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func errorLines(c Change) []string {
	if ps := c.Problems(); len(ps) > 0 {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	if c.Err != nil {
		return strings.Split(c.Err.Error(), "\n")
	}
	return nil
}

// changeNotes are the lines a plan shows below a repo's diff or errors:
// the file's warnings, then otherNotes.
func changeNotes(c Change) []string {
	return append(warningLines(c.Warnings), otherNotes(c)...)
}

// otherNotes are the notes about a repo that are not its file's problems:
// the unknown fields its live overlay holds (kept by every write).
func otherNotes(c Change) []string {
	var out []string
	if n := store.UnknownFieldsNote(c.UnknownFields); n != "" {
		out = append(out, n)
	}
	for _, n := range c.CheckNotes {
		out = append(out, "package check: "+n)
	}
	return out
}

type jsonChange struct {
	Repo        string       `json:"repo"`
	RepoID      string       `json:"repo_id,omitempty"`
	File        string       `json:"file,omitempty"`
	Action      vocab.Action `json:"action"`
	Stalled     bool         `json:"stalled,omitempty"`
	DesiredHash string       `json:"desired_hash,omitempty"`
	LiveHash    string       `json:"live_hash,omitempty"`
	Diff        []string     `json:"diff,omitempty"`
	Errors      []string     `json:"errors,omitempty"`
	Warnings    []string     `json:"warnings,omitempty"`
	// UnknownFields counts the live overlay's fields this version does
	// not know (kept by writes, never drift).
	UnknownFields int `json:"unknown_fields,omitempty"`
	// Notes are what people should know beside the diff and the errors
	// (the unknown fields kept, what the package check could not decide).
	Notes []string `json:"notes,omitempty"`
	// CheckRefused is set when the package check refused the file (its
	// errors say why).
	CheckRefused bool `json:"refused_by_package_check,omitempty"`
	// the lifecycle's
	Source string           `json:"source,omitempty"`
	Would  vocab.Action     `json:"would,omitempty"`
	Held   vocab.HoldReason `json:"held,omitempty"`
}

type jsonSettings struct {
	File     string   `json:"file"`
	Valid    bool     `json:"valid"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

type jsonPrune struct {
	Limit      int              `json:"limit"`
	Candidates []string         `json:"candidates"`
	Held       vocab.HoldReason `json:"held,omitempty"`
	Reason     string           `json:"reason,omitempty"`
}

// WriteJSON prints the plan as one JSON object.
func (p Plan) WriteJSON(w io.Writer) error {
	out := struct {
		Revision     string            `json:"revision"`
		InSync       bool              `json:"in_sync"`
		Summary      Summary           `json:"summary"`
		Settings     *jsonSettings     `json:"settings,omitempty"`
		Prune        *jsonPrune        `json:"prune,omitempty"`
		Changes      []jsonChange      `json:"changes"`
		PackageCheck *jsonPackageCheck `json:"package_check,omitempty"`
	}{Revision: p.Revision, InSync: !p.HasChanges() && !p.HasErrors(), Summary: p.Summary(), Changes: []jsonChange{}, PackageCheck: p.PackageCheck.json()}
	if p.SettingsFile != "" {
		out.Settings = &jsonSettings{File: p.SettingsFile, Valid: p.SettingsErr == nil, Errors: ProblemLines(p.SettingsErr), Warnings: warningLines(p.SettingsWarnings)}
	}
	if p.Prune.Enabled {
		out.Prune = &jsonPrune{Limit: p.Prune.Limit, Candidates: append([]string{}, p.Prune.Candidates...), Held: p.Prune.Held, Reason: p.Prune.Reason}
	}
	for _, c := range p.Changes {
		jc := jsonChange{Repo: c.Repo, RepoID: c.RepoID, File: c.File, Action: c.Action, Stalled: c.Stalled, Diff: diffStrings(c.Diff), Errors: errorLines(c), LiveHash: c.LiveHash,
			Source: c.Source, Would: c.Would, Held: c.Held,
			Warnings: warningLines(c.Warnings), UnknownFields: c.UnknownFields, Notes: otherNotes(c), CheckRefused: c.CheckRefused}
		if c.Action != vocab.ActionInvalid && c.Action != vocab.ActionOrphan {
			jc.DesiredHash = c.DesiredHash
		}
		if len(jc.Diff) == 0 {
			jc.Diff = nil
		}
		out.Changes = append(out.Changes, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
