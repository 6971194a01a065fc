package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

func newValidateCommand(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check overlay files offline; print file:line:col: message for each problem",
		Long: `Check overlay files offline against every rule the Chainguard API enforces and our own lint.
A PATH may be a file or a folder (default ca-images-iac); in a folder, NAME.yaml and NAME.yml
files are checked as the daemon maps them, so two files for one repo are an error.
Exit status: 0 no problems, 1 problems found.`,
		Example: `  ca-reconciler validate
  ca-reconciler validate ca-images-iac/nginx.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"ca-images-iac"}
			}
			n, err := validatePaths(args, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s)\n", n)
				return exitError{1}
			}
			return nil
		},
	}
	bindEnv(cmd, getenv)
	return cmd
}

// validatePaths prints one line per problem and returns how many there were.
func validatePaths(paths []string, w io.Writer) (int, error) {
	var lines []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("validate: %w", err)
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return 0, fmt.Errorf("validate: %w", err)
			}
			_, err = overlay.Parse(p, data)
			lines = append(lines, problemLines(p, err)...)
			continue
		}
		desired := reconciler.MapFiles(filepath.ToSlash(p), os.DirFS(p))
		if desired.Err != nil {
			return 0, fmt.Errorf("validate: %w", desired.Err)
		}
		names := make([]string, 0, len(desired.Repos))
		for name := range desired.Repos {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := desired.Repos[name]
			lines = append(lines, problemLines(r.File, r.Err)...)
		}
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return len(lines), nil
}

func problemLines(file string, err error) []string {
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
	return []string{err.Error()}
}
