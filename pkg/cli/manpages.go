package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/racklift/racklift/pkg/version"
)

// ManCommand is a hidden `gen-man DIR` command that writes section-1 man pages for
// every command of the tree built by newRoot; packaging (mk/dist.mk) runs it so the
// pages always match the flags the binary has.
func ManCommand(newRoot func() *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write man pages for every command into DIR (used by make dist)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("gen-man: %w", err)
			}
			root := newRoot()
			root.DisableAutoGenTag = true // a date in every page makes builds differ
			hdr := &doc.GenManHeader{Section: "1", Source: "racklift " + version.Version, Manual: "racklift manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("gen-man %s: %w", args[0], err)
			}
			return nil
		},
	}
}
