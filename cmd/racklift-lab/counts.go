package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/pkg/output"
)

func newCountsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "counts",
		Short: "Print each node's power state and the power cycles its own BMC counted",
		Long: `counts reads the status racklift-lab up keeps in --dir (rack.json, rewritten every
second): per node its BMC, whether its guest runs, and the power-ons and resets its BMC
was asked for (Redfish PowerOn, ForceRestart, GracefulRestart and PowerCycle requests,
or ipmi_sim's power on and reset changes), and the boot mode of each guest start.`,
		Example: `  racklift-lab counts --dir .demo
  racklift-lab counts --dir .demo -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := rack.ReadStatus(g.dir)
			if err != nil {
				return err
			}
			if st.PID > 0 && !alive(st.PID) {
				fmt.Fprintf(cmd.ErrOrStderr(), "racklift-lab: warning: the process holding this rack (pid %d) is gone; figures as of %s\n", st.PID, st.Updated.Format("15:04:05"))
			}
			return output.Print(cmd.OutOrStdout(), g.output, st.Nodes, func(w io.Writer) error {
				t := output.Rows{Header: []string{"NODE", "BMC", "POWER", "POWER-CYCLES", "BOOTS"}}
				for _, n := range st.Nodes {
					boots := strings.Join(n.Boots, ",")
					if boots == "" {
						boots = "-"
					}
					t.Add(n.Name, n.BMC, n.Power, strconv.Itoa(n.PowerCycles), boots)
				}
				return t.Write(w)
			})
		},
	}
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
