package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
)

func newEnrollCmd() *cobra.Command {
	var cmdlineFile, root string
	var installed bool
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Give the installed system the node's identity (run by the OS installer)",
		Long: `enroll exchanges the one-time bootstrap secret of the kernel command line
(racklift.bootstrap=, with racklift.api= and racklift.ca=) for the node's client
certificate, over a key made here, and writes node.crt, node.key (0600) and agent.yaml
under --root's /etc/racklift, where 'node-agent daemon' finds them at its first start.
With --installed it then tells serve the node is installed, over mutual TLS with that
certificate: serve answers its network boot with the local disk from then on.

An identity already under --root is used as it is. The secret is never printed.`,
		Example: `  node-agent enroll --root /target --installed      # Ubuntu autoinstall late-commands
  node-agent enroll --root /mnt/sysimage --installed # kickstart %post --nochroot`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(cmdlineFile)
			if err != nil {
				return fmt.Errorf("kernel command line: %w", err)
			}
			ctx, _, stop := signalContext()
			defer stop()
			bundle, err := agent.Enroll(ctx, agent.EnrollConfig{Cmdline: string(b), Root: root, Installed: installed})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s: identity written under %s/etc/racklift (agent API %s)\n", bundle.Node, root, bundle.APIURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&cmdlineFile, "cmdline", "/proc/cmdline", "file holding the kernel command line")
	cmd.Flags().StringVar(&root, "root", "/", "the installed system's root")
	cmd.Flags().BoolVar(&installed, "installed", false, "then tell serve the node is installed (it boots its local disk)")
	return cmd
}
