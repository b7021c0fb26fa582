package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
)

// nodeRow is one node of `inventory list -o json|yaml`: effective values, defaults applied.
type nodeRow struct {
	Name        string                 `json:"name"`
	Rack        string                 `json:"rack"`
	Unit        int                    `json:"unit,omitempty"`
	Height      int                    `json:"height"`
	Role        string                 `json:"role"`
	Profile     string                 `json:"profile"`
	Labels      map[string]string      `json:"labels,omitempty"`
	Protected   bool                   `json:"protected,omitempty"`
	Maintenance bool                   `json:"maintenance,omitempty"`
	BMC         inventory.BMC          `json:"bmc"`
	PXE         pxeRow                 `json:"pxe"`
	Interfaces  []*inventory.Interface `json:"interfaces"`
	Source      string                 `json:"source"` // file:line:col of the node
}

type pxeRow struct {
	Interface string `json:"interface,omitempty"`
	MAC       string `json:"mac,omitempty"`
	Network   string `json:"network,omitempty"`
	Address   string `json:"address,omitempty"`
}

// newInventoryCmd is the inventory parent command; its examples are list's.
func newInventoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "inventory", Short: "Inspect the inventory",
		Example: `  provision inventory list -i inventory/examples/site
  provision inventory list -i inventory/examples/site rack=a01 -o json`}
	cmd.AddCommand(newInventoryListCmd(g))
	return cmd
}

func newInventoryListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "list [SELECTOR...]",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "List nodes with rack position, role, profile, BMC and PXE interface",
		Long: `list prints the selected nodes (all when no selector is given) with their effective
values, site and rack defaults applied: rack and unit, role, profile, BMC, PXE MAC and
address, and labels. Selectors: all, names, globs (gpu-a01-*), rack=a01, role=gpu,
profile=NAME, label k=v or k!=v; comma-separated terms must all match, several
arguments add up.`,
		Example: `  provision inventory list -i inventory/examples/site
  provision inventory list -i inventory/examples/site rack=a01
  provision inventory list -i inventory/examples/site 'gpu-a0?-0[12]' pool=research -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, nodes, err := g.selectNodesOrAll(args)
			if err != nil {
				return err
			}
			rows := make([]nodeRow, 0, len(nodes))
			for _, n := range nodes {
				r := nodeRow{
					Name: n.Name, Rack: n.Rack, Unit: n.Unit, Height: n.Height, Role: n.Role, Profile: n.Profile,
					Labels: n.Labels, Protected: n.Protected, Maintenance: n.Maintenance, BMC: n.BMC,
					Interfaces: n.Interfaces, Source: n.Pos().String(),
				}
				if p := n.PXEInterface(); p != nil {
					r.PXE = pxeRow{Interface: p.Name, MAC: p.HW.String(), Network: p.Network, Address: p.Address}
				}
				rows = append(rows, r)
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), rows, func(w io.Writer) error { return printNodes(w, rows) })
		},
	}
}

func printNodes(w io.Writer, rows []nodeRow) error {
	t := output.Rows{Header: []string{"NODE", "RACK", "U", "ROLE", "PROFILE", "BMC", "PXE MAC", "PXE IP", "LABELS"},
		Wide: []string{"INTERFACES", "SOURCE"}}
	for _, r := range rows {
		u := "-"
		if r.Unit > 0 {
			u = fmt.Sprint(r.Unit)
			if r.Height > 1 {
				u = fmt.Sprintf("%d-%d", r.Unit, r.Unit+r.Height-1)
			}
		}
		bmc := fmt.Sprintf("%s %s:%d", r.BMC.Protocol, r.BMC.Address, r.BMC.Port)
		var ifs []string
		for _, i := range r.Interfaces {
			ifs = append(ifs, fmt.Sprintf("%s:%s/%s", i.Name, dash(i.Address), i.Network))
		}
		t.Add(r.Name, r.Rack, u, r.Role+flags(r), r.Profile, bmc, dash(r.PXE.MAC), dash(r.PXE.Address), labelString(r.Labels),
			dash(strings.Join(ifs, ",")), r.Source)
	}
	return t.Write(w)
}

// flags marks nodes that power actions treat with care.
func flags(r nodeRow) string {
	var f []string
	if r.Protected {
		f = append(f, "protected")
	}
	if r.Maintenance {
		f = append(f, "maintenance")
	}
	if len(f) == 0 {
		return ""
	}
	return " (" + strings.Join(f, ",") + ")"
}

func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return dash(strings.Join(keys, ","))
}
