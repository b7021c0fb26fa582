package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/output"
)

var discoveredFlags struct {
	stateDir string
	stanza   bool
}

var discoveredCmd = &cobra.Command{
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
		recs, err := dhcp.LoadDiscovered(discoveredFlags.stateDir)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if discoveredFlags.stanza {
			if len(recs) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no discovered machines in", discoveredFlags.stateDir)
				return nil
			}
			fmt.Fprintln(w, "# paste under a rack's nodes: and set name, unit and interface name")
			for _, r := range recs {
				fmt.Fprint(w, r.Stanza())
			}
			return nil
		}
		if recs == nil {
			recs = []*dhcp.Record{}
		}
		return output.Print(w, global.output, recs, func(w io.Writer) error {
			if len(recs) == 0 {
				_, err := fmt.Fprintf(w, "no discovered machines in %s (serve records MACs it does not answer there)\n", discoveredFlags.stateDir)
				return err
			}
			t := output.Rows{Header: []string{"MAC", "CLIENT", "INTERFACE", "NETWORK", "FIRST SEEN", "LAST SEEN", "REQUESTS"}}
			for _, r := range recs {
				t.Add(r.MAC, r.Client, dash(r.Interface), dash(r.Network), r.FirstSeen.Format("2006-01-02 15:04:05"), r.LastSeen.Format("2006-01-02 15:04:05"), fmt.Sprint(r.Count))
			}
			if err := t.Write(w); err != nil {
				return err
			}
			_, err := fmt.Fprintln(w, "\nadd one to the inventory: provision discovered --stanza")
			return err
		})
	},
}

func init() {
	discoveredCmd.Flags().StringVar(&discoveredFlags.stateDir, "state-dir", ".state", "serve's --state-dir")
	discoveredCmd.Flags().BoolVar(&discoveredFlags.stanza, "stanza", false, "print a ready-to-paste inventory node for each MAC")
	root.AddCommand(discoveredCmd)
}
