package main

// The inventory parent command is declared in groups.go; its examples live with its
// subcommands.
func init() {
	if inventoryCmd.Example == "" {
		inventoryCmd.Example = `  provision inventory list -i inventory/examples/site
  provision inventory list -i inventory/examples/site rack=a01 -o json`
	}
}
