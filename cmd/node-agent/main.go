// Command node-agent runs on every node: it checks GPUs, storage and networks against the
// node's profile and reports to the racklift server.
package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/version"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// run builds a fresh command tree, runs args on it and returns the exit status; the
// tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Code(cli.Execute(ctx, newRoot(), args, stdout, stderr), stderr, "error: ")
}

// newRoot builds node-agent's command tree.
func newRoot() *cobra.Command {
	tree := &cobra.Command{
		Use:   "node-agent",
		Short: "racklift node agent: check GPUs, storage and networks, report to the server",
		Example: `  node-agent check --expect expect.yaml
  node-agent daemon                      # identity from /etc/racklift, written at install`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	tree.AddCommand(newCheckCmd(), newDaemonCmd(), newEnrollCmd(), newDeployCmd(), newExpectCmd(), newNetCmd(), newBenchCmd(), newLLDPCmd(),
		version.Command("node-agent", nil), cli.ManCommand(newRoot))
	return tree
}
