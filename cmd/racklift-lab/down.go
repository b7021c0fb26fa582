package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/internal/lab/rack"
)

func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the virtual rack: stop up, guests, BMCs, and delete the namespace",
		Long: `down stops a running racklift-lab up (SIGTERM; it removes its rack), then removes
whatever a killed one left: the QEMU and ipmi_sim processes recorded in --dir, every
process still inside the namespace (e.g. a provision serve started there), and the
namespace. With nothing there it does nothing and exits 0.`,
		Example: `  racklift-lab down --dir .demo
  racklift-lab down --dir .demo --netns racklift-lab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(g.dir)
			if err != nil {
				return err
			}
			if pid := runningPID(dir); pid > 0 {
				// What else runs in the rack's namespace goes first; up's own cleanup deletes
				// the namespace, after which its processes cannot be found.
				if err := rack.KillInside(recordedNetNS(g, dir)); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "racklift-lab:", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stopping racklift-lab up (pid %d)\n", pid)
				syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(100 * time.Millisecond)
				}
				if syscall.Kill(pid, 0) == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "racklift-lab up (pid %d) still runs after 30 s: killing it\n", pid)
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if err := rack.Down(g.netns, dir); err != nil {
				return err
			}
			for _, f := range []string{readyFile, pidFile, rack.StatusFile} {
				os.Remove(filepath.Join(dir, f))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "virtual rack removed")
			return nil
		},
	}
}

// recordedNetNS is --netns, else the namespace up recorded in dir, else the default.
func recordedNetNS(g *globals, dir string) string {
	if g.netns != "" {
		return g.netns
	}
	if b, err := os.ReadFile(filepath.Join(dir, readyFile)); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return rack.DefaultNetNS
}
