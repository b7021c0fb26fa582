package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
	"github.com/racklift/racklift/pkg/version"
)

// globals are the flags every command shares; each tree has its own.
type globals struct {
	inventory string
	output    string
	secrets   string
	// Where serve keeps its state and answers the CLI: serve, up, status, report, events.
	stateDir string
	api      string
	// --no-headers and --log-level.
	noHeaders bool
	logLevel  string
}

// out is how results are printed: -o and --no-headers.
func (g *globals) out() output.Options {
	return output.Options{Format: g.output, NoHeaders: g.noHeaders}
}

// newRoot builds provision's command tree.
func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "provision",
		Short: "racklift: bare-metal provisioning for GPU racks, driven by an inventory",
		Long: `racklift turns a rack inventory (YAML in git) into booted, validated GPU nodes:
it validates and plans the inventory, serves PXE boot (DHCP, TFTP, HTTP/iPXE), drives
BMCs over Redfish and IPMI, sets up VLANs with netlink and watches racks come up.`,
		Example: `  provision validate -i inventory/examples/site
  provision plan -i inventory/examples/site -o json
  provision inventory list rack=a01
  provision power status 'gpu-a01-[01-08]' -o name
  source <(provision completion bash)

Selectors (power, boot, bmc, up, status, inventory list, export): all, node names,
globs (gpu-a01-*), hostlist ranges (gpu-a01-[01-16], gpu-a0[1-2]-[01-03,07]), rack=a01,
role=gpu, profile=NAME, label k=v, k!=v (rack!=a01 too), 'rack in (a01,a02)',
'role notin (storage)'. Comma-separated terms must all match; several arguments add up.
Shell completion (provision completion bash|zsh|fish) offers them from the inventory.

` + cli.ExitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Check(g.output); err != nil {
				return cli.Usage(err)
			}
			return cli.SetLogLevel(g.logLevel, cmd.ErrOrStderr())
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.inventory, "inventory", "i", "./inventory", "inventory: a site directory (site.yaml, racks/) or a single file")
	pf.StringVarP(&g.output, "output", "o", "table", output.Formats)
	pf.BoolVar(&g.noHeaders, "no-headers", false, "print tables without their header row")
	pf.StringVar(&g.logLevel, "log-level", "info", "least severe log message shown: debug, info, warn or error (serve: also RACKLIFT_LOG_LEVEL)")
	pf.StringVar(&g.secrets, "secrets", "", "secrets file with BMC passwords, mode 0600 (default $RACKLIFT_SECRETS or "+inventory.DefaultSecretsFile+")")
	pf.StringVar(&g.stateDir, "state-dir", state.DefaultDir(), "serve's state: node phases, event log, CA, API socket and token (env "+state.DirEnv+")")
	pf.StringVar(&g.api, "api", "", "serve's control API: unix:///path/api.sock or http://127.0.0.1:PORT (default: the socket in --state-dir)")

	root.AddCommand(
		newValidateCmd(g), newPlanCmd(g), newInventoryCmd(g), newExportCmd(g), newSchemaCmd(),
		newServeCmd(g), newDiscoveredCmd(g), newImageCmd(g),
		newPowerCmd(g), newBootCmd(g), newBMCCmd(g), newNetCmd(g),
		newUpCmd(g), newStatusCmd(g), newReportCmd(g), newEventsCmd(g), newStateCmd(g), newNodeCmd(g),
		version.Command("provision", func() string { return g.output }), cli.ManCommand(newRoot),
	)
	return root
}

// loadInventory loads -i; a defective inventory is returned as inventory.Errors.
func (g *globals) loadInventory() (*inventory.Inventory, error) {
	return inventory.Load(g.inventory)
}

// selectNodes loads the inventory and resolves the command's selector arguments.
func (g *globals) selectNodes(args []string) (*inventory.Inventory, []*inventory.Node, error) {
	inv, err := g.loadInventory()
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.SelectAny(args)
	if err != nil {
		return nil, nil, cli.Usage(err)
	}
	return inv, nodes, nil
}

// selectNodesOrAll is selectNodes, with every node when no selector is given.
func (g *globals) selectNodesOrAll(args []string) (*inventory.Inventory, []*inventory.Node, error) {
	if len(args) == 0 {
		args = []string{"all"}
	}
	return g.selectNodes(args)
}

// secretsStore resolves credentials from the environment or --secrets.
func (g *globals) secretsStore() *inventory.Secrets { return &inventory.Secrets{File: g.secrets} }

// connect reaches serve's API, or its state read-only when serve is not running.
func (g *globals) connect(ctx context.Context) (api.Source, error) {
	src, err := api.Connect(ctx, g.api, g.stateDir)
	return src, cli.WithCode(cli.CodeUnreachable, err)
}

// completeNames completes node names only (report, events, node revoke).
func (g *globals) completeNames() cobra.CompletionFunc {
	sel := g.completeSelectors(0, nil)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cands, dir := sel(cmd, args, toComplete)
		var names []cobra.Completion
		for _, c := range cands {
			if v, _, _ := strings.Cut(c, "\t"); !strings.HasSuffix(v, "=") && v != "all" && !strings.Contains(v, ",") {
				names = append(names, c)
			}
		}
		return names, dir &^ cobra.ShellCompDirectiveNoSpace
	}
}

// completeSelectors completes selector arguments from the inventory (-i): node names,
// rack=, role=, profile=, labels. skip is how many leading arguments are not selectors
// (power's action); those complete from verbs.
func (g *globals) completeSelectors(skip int, verbs []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) < skip {
			var out []cobra.Completion
			for _, v := range verbs {
				if strings.HasPrefix(v, toComplete) {
					out = append(out, v)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		inv, err := g.loadInventory()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		dir := cobra.ShellCompDirectiveNoFileComp
		cands := inv.Complete(toComplete)
		for _, c := range cands {
			if v, _, _ := strings.Cut(c, "\t"); strings.HasSuffix(v, "=") {
				dir |= cobra.ShellCompDirectiveNoSpace
			}
		}
		return cands, dir
	}
}
