package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/store/audit"
)

// reanchorHint tells an operator facing a log that does not match its
// head file what to do; serve and audit verify both print it.
const reanchorHint = "Run `warden audit verify` for details. If the cause is understood (a restored backup, " +
	"a deliberate deletion), stop the server and run `warden audit reanchor --reason \"...\"`: " +
	"it accepts the log as it is and records that it did, in the log itself."

// headProblems are the breaks reanchor is for: the log against its head
// file, not rows that fail the chain.
var headProblems = map[audit.Problem]bool{
	audit.ProblemTruncated:    true,
	audit.ProblemHeadMismatch: true,
	audit.ProblemBadHead:      true,
	audit.ProblemNoHead:       true,
}

// verifyError turns a failed report into the command's error.
func verifyError(rep audit.Report) error {
	b := rep.Broken
	switch {
	case b == nil:
		return nil
	case b.Problem == audit.ProblemTruncated:
		return fmt.Errorf("audit log truncated: %d records missing from the tail\n%s", b.Missing, reanchorHint)
	case headProblems[b.Problem]:
		return fmt.Errorf("audit log does not match its head file (%s)\n%s", b.Problem, reanchorHint)
	}
	return fmt.Errorf("audit log chain is broken at record %d", b.ID)
}

func newReanchorCommand(g *globalOptions, o *auditOptions) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "reanchor",
		Short: "Accept the audit log as it is after verify failed on its head file; the acceptance is recorded in the log (stop the server first)",
		Long: `Re-anchor the audit log's head file (audit.head) on the log as it now is.

warden serve refuses to start, and warden audit verify fails, when the log
does not reach the head file: records were cut from its tail, or the head
file is missing or altered. Once the cause is understood, reanchor appends
a system record (action "reanchor": who, --reason, and what verify found)
and writes a new head file over it. Rows cut before it stay missing; the
record says how many. Stop the server first: a running one keeps refusing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if reason == "" {
				return errors.New("--reason is required: it is recorded in the log")
			}
			dir, err := g.openDataDir()
			if err != nil {
				return err
			}
			key, err := o.key(dir)
			if err != nil {
				return err
			}
			res, err := audit.Reanchor(cmd.Context(), auditPath(dir), key, "cli:"+currentUser(), reason)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "before:", res.Before.String())
			fmt.Fprintf(w, "re-anchored: record %d (system, reanchor) written; head file %s at row %d, %s\n",
				res.ID, audit.HeadPath(auditPath(dir)), res.Head.LastID, res.Head.WrittenAt.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the log is accepted as it is; recorded in the log (required)")
	return cmd
}
