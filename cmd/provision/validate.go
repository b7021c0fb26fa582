package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/templates"
)

func newValidateCmd(g *globals) *cobra.Command {
	var checkSecrets bool
	var templatesDir string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the inventory and report every defect with file:line:col and a fix",
		Long: `validate loads the inventory (a site directory or a single file) and reports every
defect at once: unknown fields, duplicate names, MACs, addresses and BMCs, addresses
outside their network, bad VLANs and MTUs, missing references, overlapping rack units,
PXE interfaces, plain-text passwords, install templates that do not exist. Exit status 3
when there is any, 0 when clean.
--check-secrets also resolves every credential the nodes use (RACKLIFT_CRED_<NAME>_PASSWORD
or the 0600 secrets file) and fails, naming the credential, where one has no password.`,
		Example: `  provision validate -i inventory/examples/site
  provision validate -i site.yaml -o json | jq '.errors[].message'
  RACKLIFT_CRED_LAB_BMC_PASSWORD=... provision validate -i inventory/examples/lab --check-secrets`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys := fs.FS(templates.FS)
			if templatesDir != "" {
				fsys = os.DirFS(templatesDir)
			}
			var secrets *inventory.Secrets
			if checkSecrets {
				secrets = g.secretsStore()
			}
			v, err := inventory.Validate(g.inventory, fsys, secrets)
			if err != nil {
				return err
			}
			if output.Structured(g.output) {
				if err := output.PrintOpts(cmd.OutOrStdout(), g.out(), v, func(io.Writer) error { return nil }); err != nil {
					return err
				}
				if len(v.Errors) > 0 {
					return &cli.ExitError{Code: cli.CodeInventory}
				}
				if !v.OK {
					return &cli.ExitError{Code: cli.CodeFailure}
				}
				return nil
			}
			if len(v.Errors) > 0 {
				return inventory.Errors(v.Errors) // run prints every error and the count, exit 3
			}
			var bad []string
			for _, c := range v.Credentials {
				if !c.OK {
					bad = append(bad, fmt.Sprintf("credential %q (used by %s): %s", c.Name, plural(c.Nodes, "node"), c.Error))
				}
			}
			if len(bad) > 0 {
				return cli.Exitf(1, "%s", strings.Join(bad, "\n"))
			}
			if checkSecrets {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s resolved (passwords not shown)\n", plural(len(v.Credentials), "credential"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s in %s, %s\n",
				plural(v.Nodes, "node"), plural(v.Racks, "rack"), plural(v.Networks, "network"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&checkSecrets, "check-secrets", false,
		"also check that every credential the nodes use has a password (environment or secrets file); passwords are never printed")
	cmd.Flags().StringVar(&templatesDir, "templates", "", "templates directory whose install/ the profiles' boot.install must name (default: the built-in templates)")
	return cmd
}

// plural writes "1 rack" or "2 racks".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
