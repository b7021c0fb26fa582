package main

import (
	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/inventory"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of inventory files (site.yaml and racks/*.yaml)",
		Long: `schema prints the JSON Schema (draft-07) of inventory files, generated from the same
types the loader decodes: descriptions, enums for roles, DHCP modes and BMC protocols,
and no unknown keys. It is committed as inventory/schema.json (make schema); point
yaml-language-server at it with a first line such as
  # yaml-language-server: $schema=../schema.json
and editors flag typos and bad values as you type.`,
		Example: `  provision schema > inventory/schema.json
  make schema`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := inventory.JSONSchema()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
