package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/output"
)

func newDiscoveredCmd(g *globals) *cobra.Command {
	var stanza bool
	cmd := &cobra.Command{
		Use:   "discovered",
		Short: "List machines that asked serve for DHCP but are not in the inventory",
		Long: `serve never answers a MAC that is not in the inventory; it records it (MAC, firmware
architecture, vendor class, interface, first and last time seen) in --state-dir.
discovered lists them, with a ready-to-paste inventory stanza for each (--stanza).`,
		Example: `  provision discovered
  provision discovered --stanza >> new-nodes.yaml
  provision discovered --state-dir /var/lib/racklift -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The global --state-dir (and RACKLIFT_STATE_DIR), serve's own: discovered once
			// had a flag of its own that shadowed both.
			stateDir := g.stateDir
			recs, err := dhcp.LoadDiscovered(stateDir)
			if err != nil {
				return err
			}
			if stanza {
				if len(recs) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "no discovered machines in", stateDir)
					return nil
				}
				return dhcp.WriteStanzas(cmd.OutOrStdout(), recs)
			}
			if recs == nil {
				recs = []*dhcp.Record{}
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), recs, func(w io.Writer) error { return dhcp.WriteDiscovered(w, recs, stateDir) })
		},
	}
	cmd.Flags().BoolVar(&stanza, "stanza", false, "print a ready-to-paste inventory node for each MAC")
	return cmd
}
