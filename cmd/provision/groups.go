package main

import "github.com/spf13/cobra"

// Parent commands that several files add subcommands to.
var (
	inventoryCmd = &cobra.Command{Use: "inventory", Short: "Inspect the inventory"}
	exportCmd    = &cobra.Command{Use: "export", Short: "Write the inventory in other tools' formats (ansible, dnsmasq)"}
)

func init() { root.AddCommand(inventoryCmd, exportCmd) }
