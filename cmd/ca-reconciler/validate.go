package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/ca-reconciler/ca-reconciler/internal/boundedread"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/settings"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// Output formats of validate.
const (
	validateText   = "text"
	validateGitHub = "github"
)

func newValidateCommand(getenv env) *cobra.Command {
	var (
		strict bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check overlay files offline; print file:line:col: message for each problem",
		Long: `Check overlay files offline against every rule the Chainguard API enforces and our own lint.
A PATH may be a file or a folder (default ca-images-iac); in a folder, NAME.yaml and NAME.yml
files are checked as the daemon maps them, so two files for one repo are an error, and entries
that are not regular files (symbolic links, submodules) are reported as ignored.
Errors print as file:line:col: field: message, warnings as file:line:col: warning: field: message.
With -o github, each is a GitHub Actions workflow command (::error, ::warning, ::notice) that
annotates the file in a pull request.
Exit status: 0 no errors (warnings allowed unless --strict), 1 errors found.`,
		Example: `  ca-reconciler validate
  ca-reconciler validate ca-images-iac/nginx.yaml
  ca-reconciler validate --strict -o github ca-images-iac`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != validateText && output != validateGitHub {
				return fmt.Errorf("validate: --output %q: want %s or %s", output, validateText, validateGitHub)
			}
			if len(args) == 0 {
				args = []string{"ca-images-iac"}
			}
			fs, err := validatePaths(args)
			if err != nil {
				return err
			}
			write := writeText
			if output == validateGitHub {
				write = writeGitHub
			}
			for _, f := range fs {
				fmt.Fprintln(cmd.OutOrStdout(), write(f))
			}
			c := countFindings(fs)
			if len(fs) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s), %d warning(s), %d ignored\n", c.errors, c.warnings, c.ignored)
			}
			if c.errors > 0 || (strict && c.warnings > 0) {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 1) on warnings too")
	cmd.Flags().StringVarP(&output, "output", "o", validateText, "output format: text (file:line:col: message) or github (GitHub Actions annotations)")
	bindEnv(cmd, getenv)
	return cmd
}

// findingKind is what a line of validate's output reports.
type findingKind string

const (
	findingError   findingKind = "error"
	findingWarning findingKind = "warning"
	findingNotice  findingKind = "notice" // an ignored entry: never a failure
)

// finding is one line of validate's output. Problems keep their field
// apart from the message; other errors (two files for one repo) have a file
// and a message only.
type finding struct {
	kind         findingKind
	file         string
	line, column int
	field        string
	message      string
}

type findingCounts struct{ errors, warnings, ignored int }

func countFindings(fs []finding) findingCounts {
	var c findingCounts
	for _, f := range fs {
		switch f.kind {
		case findingError:
			c.errors++
		case findingWarning:
			c.warnings++
		case findingNotice:
			c.ignored++
		}
	}
	return c
}

// writeText renders a finding as validate's default output does: the
// overlay package's "file:line:col: [warning: ]field: message", and
// "file: notice: ignored: reason" for an ignored entry. Control characters
// (a newline in a file name) are shown as Go escapes, so that each finding
// is one line.
func writeText(f finding) string {
	switch {
	case f.kind == findingNotice:
		return oneLine(f.file + ": notice: " + f.message)
	case f.kind == findingError && f.field == "" && f.line == 0:
		return oneLine(f.message) // a message that names its files itself
	}
	p := overlay.Problem{File: f.file, Line: f.line, Column: f.column, Field: f.field, Message: f.message}
	if f.kind == findingWarning {
		p.Severity = overlay.SeverityWarning
	}
	return oneLine(p.String())
}

// oneLine replaces the control characters of s with their Go escapes
// ("\n", "\x1b").
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeGitHub renders a finding as a GitHub Actions workflow command,
// "::error file=F,line=L,col=C::field: message", escaped as GitHub's
// toolkit escapes them (@actions/core command.ts): in property values "%",
// CR, LF, ":" and ","; in the message "%", CR and LF.
func writeGitHub(f finding) string {
	var props []string
	if f.file != "" {
		props = append(props, "file="+escapeProperty(f.file))
	}
	if f.line > 0 {
		props = append(props, "line="+strconv.Itoa(f.line))
		if f.column > 0 {
			props = append(props, "col="+strconv.Itoa(f.column))
		}
	}
	msg := f.message
	if f.field != "" {
		msg = f.field + ": " + msg
	}
	cmd := "::" + string(f.kind)
	if len(props) > 0 {
		cmd += " " + strings.Join(props, ",")
	}
	return cmd + "::" + escapeData(msg)
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }

// validatePaths checks every path and returns what it found, each file's
// findings in file order.
func validatePaths(paths []string) ([]finding, error) {
	var out []finding
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("validate: %w", err)
		}
		if !fi.IsDir() && filepath.Base(p) == settings.FileName {
			out = append(out, validateSettings(p)...)
			continue
		}
		if !fi.IsDir() {
			data, err := boundedread.File(os.DirFS(filepath.Dir(p)), filepath.Base(p), overlay.MaxFileBytes)
			if err != nil {
				return nil, fmt.Errorf("validate: %w", err)
			}
			parsed, err := overlay.ParseFile(p, data)
			out = append(out, problemFindings(err, parsed.Warnings)...)
			continue
		}
		found, err := validateDir(p)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// validateDir checks a folder as the daemon reads it: reconciler.MapFiles
// maps its files to repos (and finds two files for one repo); each mapped
// file is parsed for its errors and warnings; entries that are not regular
// files are reported as ignored, with why.
func validateDir(dir string) ([]finding, error) {
	base := filepath.ToSlash(dir)
	fsys := os.DirFS(dir)
	desired := reconciler.MapFiles(base, fsys)
	if desired.Err != nil {
		return nil, fmt.Errorf("validate: %w", desired.Err)
	}
	// the settings file, as the daemon reads it with the files
	out := problemFindings(desired.SettingsErr, desired.SettingsWarnings)
	for _, ig := range desired.Ignored {
		switch ig.Reason {
		case vocab.IgnoredSymlink, vocab.IgnoredSubmodule, vocab.IgnoredIrregular:
			out = append(out, finding{kind: findingNotice, file: ig.Path, message: "ignored: " + ig.Reason.Describe()})
		}
	}
	for _, r := range desired.Repos {
		var ps overlay.Problems
		if r.Err != nil && !errors.As(r.Err, &ps) {
			out = append(out, finding{kind: findingError, file: r.File, message: r.Err.Error()})
			continue
		}
		// MapFiles keeps each file's errors and warnings: one parse.
		out = append(out, problemFindings(r.Err, r.Warnings)...)
	}
	slices.SortStableFunc(out, func(a, b finding) int {
		return cmp.Or(strings.Compare(a.file, b.file), cmp.Compare(a.line, b.line), cmp.Compare(a.column, b.column))
	})
	return out, nil
}

// validateSettings checks a settings file given by its path: its own
// rules only (which repos its folder's files name is checked with the
// folder).
func validateSettings(p string) []finding {
	data, err := boundedread.File(os.DirFS(filepath.Dir(p)), filepath.Base(p), settings.MaxSize)
	if err == nil {
		_, err = settings.Parse(p, data)
	}
	return problemFindings(err, nil)
}

// problemFindings turns a parse's errors and warnings into findings, in
// file order.
func problemFindings(err error, warnings overlay.Problems) []finding {
	var ps overlay.Problems
	if err != nil && !errors.As(err, &ps) {
		return []finding{{kind: findingError, message: err.Error()}}
	}
	var out []finding
	for _, p := range append(ps, warnings...).Sorted() {
		kind := findingError
		if p.Severity == overlay.SeverityWarning {
			kind = findingWarning
		}
		out = append(out, finding{kind: kind, file: p.File, line: p.Line, column: p.Column, field: p.Field, message: p.Message})
	}
	return out
}
