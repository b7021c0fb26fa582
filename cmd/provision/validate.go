package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/templates"
)

// validateResult is what `validate -o json|yaml` prints.
type validateResult struct {
	OK       bool               `json:"ok"`
	Path     string             `json:"path"`
	Nodes    int                `json:"nodes"`
	Racks    int                `json:"racks"`
	Networks int                `json:"networks"`
	Errors   []*inventory.Error `json:"errors"`
	// Credentials is filled by --check-secrets: one entry per credential nodes use.
	Credentials []credentialCheck `json:"credentials,omitempty"`
}

// credentialCheck says whether a credential's password can be found; never the password.
type credentialCheck struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// checkCredentials resolves every credential the nodes refer to, without printing any.
func checkCredentials(inv *inventory.Inventory, s *inventory.Secrets) []credentialCheck {
	uses := map[string]int{}
	var order []string
	for _, n := range inv.Nodes {
		c := n.BMC.Credentials
		if uses[c] == 0 {
			order = append(order, c)
		}
		uses[c]++
	}
	sort.Strings(order)
	out := make([]credentialCheck, 0, len(order))
	for _, name := range order {
		cc := credentialCheck{Name: name, Nodes: uses[name], OK: true}
		if _, err := s.Resolve(inv, name); err != nil {
			cc.OK, cc.Error = false, err.Error()
		}
		out = append(out, cc)
	}
	return out
}

func newValidateCmd(g *globals) *cobra.Command {
	var checkSecrets bool
	var templatesDir string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the inventory and report every defect with file:line:col and a fix",
		Long: `validate loads the inventory (a site directory or a single file) and reports every
defect at once: unknown fields, duplicate names, MACs, addresses and BMCs, addresses
outside their network, bad VLANs and MTUs, missing references, overlapping rack units,
PXE interfaces, plain-text passwords, install templates that do not exist. Exit status 1
when there is any, 0 when clean.
--check-secrets also resolves every credential the nodes use (RACKLIFT_CRED_<NAME>_PASSWORD
or the 0600 secrets file) and fails, naming the credential, where one has no password.`,
		Example: `  provision validate -i inventory/examples/site
  provision validate -i site.yaml -o json | jq '.errors[].message'
  RACKLIFT_CRED_LAB_BMC_PASSWORD=... provision validate -i inventory/examples/lab --check-secrets`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := g.loadInventory()
			res := validateResult{Path: g.inventory, Errors: []*inventory.Error{}}
			var ie inventory.Errors
			switch {
			case errors.As(err, &ie):
				res.Errors = ie
			case err != nil:
				return err
			default:
				fsys := fs.FS(templates.FS)
				if templatesDir != "" {
					fsys = os.DirFS(templatesDir)
				}
				if ie = inv.CheckInstallTemplates(fsys); len(ie) > 0 {
					res.Errors = ie
					break
				}
				res.OK = true
				res.Nodes, res.Racks, res.Networks = len(inv.Nodes), len(inv.Racks), len(inv.Networks)
				if checkSecrets {
					res.Credentials = checkCredentials(inv, g.secretsStore())
					for _, c := range res.Credentials {
						res.OK = res.OK && c.OK
					}
				}
			}
			if g.output == output.Table || g.output == "" {
				if len(ie) > 0 {
					return ie // main prints every error and the count, exit 1
				}
				var bad []string
				for _, c := range res.Credentials {
					if !c.OK {
						bad = append(bad, fmt.Sprintf("credential %q (used by %s): %s", c.Name, plural(c.Nodes, "node"), c.Error))
					}
				}
				if len(bad) > 0 {
					return cli.Exitf(1, "%s", strings.Join(bad, "\n"))
				}
				if checkSecrets {
					fmt.Fprintf(cmd.OutOrStdout(), "ok: %s resolved (passwords not shown)\n", plural(len(res.Credentials), "credential"))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s in %s, %s\n",
					plural(res.Nodes, "node"), plural(res.Racks, "rack"), plural(res.Networks, "network"))
				return nil
			}
			if err := output.Print(cmd.OutOrStdout(), g.output, res, func(io.Writer) error { return nil }); err != nil {
				return err
			}
			if !res.OK {
				return &cli.ExitError{Code: 1}
			}
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
