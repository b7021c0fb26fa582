package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/output"
)

func init() {
	cmd := &cobra.Command{
		Use:   "report NODE",
		Short: "Show the node agent's last report: every check, failed ones first, with their messages",
		Long: `report prints the checks the node agent ran on NODE (GPUs, storage, networks) as it last
reported them to serve: failed checks first, then warnings, then passes, each with what
was observed against what the profile expects and, for failures, the likely fix.`,
		Example: `  provision report gpu-a01-03
  provision report gpu-a01-03 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := connectState(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			d, err := src.Node(ctx, args[0])
			if err != nil {
				return err
			}
			if d.Report == nil {
				why := fmt.Sprintf("node %s has not reported yet (phase %s)", d.Name, d.Phase)
				if d.Reason != "" {
					why += ": " + d.Reason
				}
				return &exitError{code: 1, msg: why}
			}
			sorted := d.Report.Sorted()
			return output.Print(cmd.OutOrStdout(), global.output, d, func(w io.Writer) error {
				fmt.Fprintf(w, "node %s: %s", d.Name, d.Phase)
				if d.Reason != "" && d.Phase == "failed" {
					fmt.Fprintf(w, " (%s)", d.Reason)
				}
				at := d.ReportAt
				if !d.Report.Time.IsZero() {
					at = d.Report.Time
				}
				fmt.Fprintf(w, "\nreport of %s by agent %s: %s\n\n", at.Local().Format("2006-01-02 15:04:05"), orDash(d.Report.Agent), checks(d.Checks))
				rows := output.Rows{Header: []string{"STATUS", "CHECK", "OBSERVED", "EXPECTED", "MESSAGE"}}
				for _, r := range sorted {
					rows.Add(strings.ToUpper(string(r.Status)), r.Name, orDash(r.Observed), orDash(r.Expected), r.Message)
				}
				return rows.Write(w)
			})
		},
	}
	root.AddCommand(cmd)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
