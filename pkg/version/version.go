// Package version holds the build's version, commit and date, stamped at link time:
//
//	go build -ldflags "-X github.com/racklift/racklift/pkg/version.Version=0.1.0 \
//	  -X github.com/racklift/racklift/pkg/version.Commit=abc1234 \
//	  -X github.com/racklift/racklift/pkg/version.Date=2026-12-02T00:00:00Z"
//
// mk/dist.mk does this for every binary it builds; a plain `go build` reports "dev".
package version

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/output"
)

// Set by -ldflags -X; strings because -X can only set strings.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is what `version` prints, one document for every output format.
type Info struct {
	Program   string `json:"program"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get is this binary's version information.
func Get(program string) Info {
	return Info{
		Program: program, Version: Version, Commit: Commit, Date: Date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String is the one-line human form.
func (i Info) String() string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s, %s)", i.Program, i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}

// Command is the `version` subcommand for program; format returns the global -o value
// (table, json or yaml). A nil format gives the command its own -o flag, for a program
// without a global one (node-agent).
func Command(program string, format func() string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date of " + program,
		Example: "  " + program + " version\n  " + program + " version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := Get(program)
			f := format()
			if err := output.Check(f); err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), f, info, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, info.String())
				return err
			})
		},
	}
	if format == nil {
		var o string
		cmd.Flags().StringVarP(&o, "output", "o", output.Table, "output format: table, json or yaml")
		format = func() string { return o }
	}
	return cmd
}
