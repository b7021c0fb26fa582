package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Back up and check serve's state (state.db)",
		Long: `state backup writes a consistent snapshot of serve's state.db (through serve's control
API while it runs, from the file while it does not); state check verifies state.db and the
rolling backups serve keeps in --state-dir/backups.`,
		Example: `  provision state backup /srv/backup/racklift-state.db
  provision state check`,
	}
	cmd.AddCommand(newStateBackupCmd(g), newStateCheckCmd(g))
	return cmd
}

func newStateBackupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent snapshot of the state to FILE (serve may keep running)",
		Example: `  provision state backup /srv/backup/racklift-state.db
  provision state backup --state-dir /var/lib/racklift state.db.bak`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			n, err := state.WriteBackupFile(api.SnapshotOf(ctx, src), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes) from %s; it passes the consistency check\n", args[0], n, src.Describe())
			return nil
		},
	}
}

func newStateCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check state.db and the rolling backups: whole, readable, consistent",
		Example: `  provision state check
  provision state check --state-dir /var/lib/racklift -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep := api.CheckState(cmd.Context(), g.api, g.stateDir)
			if err := output.PrintOpts(cmd.OutOrStdout(), g.out(), rep, func(w io.Writer) error { return rep.WriteText(w) }); err != nil {
				return err
			}
			if !rep.OK() {
				return cli.Exitf(1, "state check: %d of %d files damaged or unreadable", rep.Failed(), len(rep.Files))
			}
			return nil
		},
	}
}
