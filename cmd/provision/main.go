// Command provision is racklift's operator CLI: validate and plan an inventory, serve PXE
// boot, drive BMCs, set up VLANs and bring racks up.
package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/inventory"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// run builds a fresh command tree, runs args on it and returns the exit status; the
// tests call it in-process. A defective inventory prints every error and the count.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := cli.Execute(ctx, newRoot(), args, stdout, stderr)
	var ie inventory.Errors
	if errors.As(err, &ie) {
		err = cli.Exitf(cli.CodeInventory, "%s\n%d error(s) in the inventory", ie.Error(), len(ie))
	}
	return cli.Code(err, stderr, "error: ")
}
