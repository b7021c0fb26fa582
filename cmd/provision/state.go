package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/config"
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
	cmd.AddCommand(newStateBackupCmd(g), newStateCheckCmd(g), newStateMigrateCmd(g))
	return cmd
}

func newStateMigrateCmd(g *globals) *cobra.Command {
	var from string
	var sf config.StoreFlags
	cmd := &cobra.Command{
		Use:   "migrate --etcd-endpoints URL,... [--from FILE]",
		Short: "Copy the bbolt state (state.db or a backup) into an empty etcd prefix, for --store etcd",
		Long: `state migrate copies every node record, the event log with its sequence numbers and
the retention mark from a bbolt state file into etcd, then checks the copy against the
file. Stop serve first (the file is opened read-only and its lock says if serve still
holds it); the etcd prefix must be empty. Then start the instances with --store etcd
(docs/scale.md).`,
		Example: `  provision state migrate --etcd-endpoints https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379 \
      --etcd-ca /etc/racklift/etcd-ca.pem --etcd-cert /etc/racklift/etcd-client.pem --etcd-key /etc/racklift/etcd-client-key.pem
  provision state migrate --from /srv/backup/racklift-state.db --etcd-endpoints http://127.0.0.1:2379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sf.Store = config.StoreEtcd
			ec, err := sf.Etcd()
			if err != nil {
				return cli.Exitf(2, "error: %v", err)
			}
			if from == "" {
				from = filepath.Join(g.stateDir, state.FileName)
			}
			src, err := state.OpenFile(from, state.Options{ReadOnly: true, Check: true})
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := state.OpenEtcd(*ec, state.Options{})
			if err != nil {
				return err
			}
			defer dst.Close()
			m, err := state.Migrate(src, dst)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrated %d nodes and %d events (last sequence number %d) from %s to %s; start serve with --store etcd\n",
				m.Nodes, m.Events, m.LastSeq, from, dst.Where())
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the bbolt state file to copy (default: state.db in --state-dir)")
	sf.Register(cmd.Flags(), false)
	cmd.Flags().Lookup("store").Hidden = true
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
