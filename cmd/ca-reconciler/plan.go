package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

func newPlanCommand(getenv env) *cobra.Command {
	o := &options{}
	var output string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what a cycle would write, without writing (for pull-request checks)",
		Long: `Run one read-only cycle and print a per-repo diff.
Exit status: 0 every managed repo in sync, 2 drift (a create or prune included), 1 an error (an
invalid file, a missing repo, an invalid settings file, a prune refused by a guard, Git or the API
unreadable). A suspended repo's drift is shown and never changes the exit status.`,
		Example: `  ca-reconciler plan --git-url . --org acme.com
  ca-reconciler plan --git-url . --org acme.com -o json
  ca-reconciler plan --git-url . --org acme.com -o markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if output != "text" && output != "json" && output != "markdown" {
				return fmt.Errorf("-o %q: want text, json or markdown", output)
			}
			d, err := wire(cmd.Context(), o, cmd.ErrOrStderr(), getenv, false)
			if err != nil {
				return err
			}
			defer d.close()
			plan, err := d.reconciler.Plan(cmd.Context())
			if err != nil {
				return err
			}
			switch output {
			case "json":
				err = plan.WriteJSON(cmd.OutOrStdout())
			case "markdown":
				err = plan.WriteMarkdown(cmd.OutOrStdout(), reconciler.MarkdownOptions{Org: o.org, Checks: plan.Checks()})
			default:
				err = plan.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return fmt.Errorf("printing the plan: %w", err)
			}
			switch {
			case plan.HasErrors():
				return exitError{1}
			case plan.HasChanges():
				return exitError{2}
			}
			return nil
		},
	}
	o.addSourceFlags(cmd.Flags())
	o.addAPIFlags(cmd.Flags())
	o.addPruneFlags(cmd.Flags())
	o.addPackageCheckFlags(cmd.Flags())
	o.addLogFlags(cmd.Flags())
	cmd.Flags().Lookup("log-level").DefValue = "warn"
	_ = cmd.Flags().Set("log-level", "warn")
	cmd.Flags().Lookup("log-level").Changed = false
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, or markdown (a pull-request comment: counts, then a collapsible section per repo)")
	bindEnv(cmd, getenv)
	return cmd
}
