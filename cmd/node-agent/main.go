// Command node-agent runs on every node: it checks GPUs, storage and networks against the
// node's profile and reports to the racklift server.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:   "node-agent",
	Short: "racklift node agent: check GPUs, storage and networks, report to the server",
	Example: `  node-agent check --expect expect.yaml
  node-agent daemon --server https://10.10.0.2:8443 --token-file /etc/racklift/token`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a specific exit status; its message, if any, is already printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
