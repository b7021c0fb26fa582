package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/pki"
)

// EnrollConfig is `node-agent enroll`'s: what an OS installer runs (late-commands,
// %post) to give the installed system the node's identity.
type EnrollConfig struct {
	// Cmdline is the kernel command line the installer booted with (/proc/cmdline):
	// racklift.bootstrap=, racklift.ca=, racklift.api=, racklift.node=.
	Cmdline string
	// Root is the installed system's root (/target under Ubuntu's installer, /mnt/sysimage
	// under Anaconda, / once booted): the bundle's files go under it.
	Root string
	// Installed then tells serve the node is installed (it boots its local disk).
	Installed bool
}

// CmdlineArgs reads racklift.* parameters from a kernel command line.
func CmdlineArgs(cmdline string) map[string]string {
	out := map[string]string{}
	for _, w := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(k, "racklift.") {
			out[k] = v
		}
	}
	return out
}

// Enroll exchanges the bootstrap from the command line for the node's certificate (or
// uses the identity already under Root: enrolling twice is harmless) and writes it under
// Root; with Installed it then reports the install over mutual TLS.
func Enroll(ctx context.Context, cfg EnrollConfig) (identity.Bundle, error) {
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	dir := filepath.Join(cfg.Root, identity.DefaultDir)
	b, err := identity.LoadBundle(dir)
	if err != nil && !errors.Is(err, identity.ErrNone) {
		return b, err
	}
	var c *report.Client
	if err == nil {
		if c, err = report.NewClient(b.APIURL, b.CAPin); err != nil {
			return b, err
		}
		if err := c.SetIdentity(b.CertPEM, b.KeyPEM); err != nil {
			return b, err
		}
	} else {
		args := CmdlineArgs(cfg.Cmdline)
		api, pin, node, secret := args[pki.CmdlineAPI], args[pki.CmdlineCA], args["racklift.node"], args[pki.CmdlineBootstrap]
		if api == "" || pin == "" || node == "" || secret == "" {
			return b, fmt.Errorf("the kernel command line lacks %s=, %s=, %s= or racklift.node=: the node was not network-booted by `provision up` (or its bootstrap was already used)",
				pki.CmdlineBootstrap, pki.CmdlineCA, pki.CmdlineAPI)
		}
		if c, err = report.NewClient(api, pin); err != nil {
			return b, err
		}
		c.Agent = Version
		if b, err = c.Exchange(ctx, node, secret); err != nil {
			return b, fmt.Errorf("bootstrap exchange: %w", err)
		}
		if err := b.Write(cfg.Root); err != nil {
			return b, err
		}
	}
	if cfg.Installed {
		if err := c.Installed(ctx, b.Node); err != nil {
			return b, fmt.Errorf("telling serve %s is installed: %w", b.Node, err)
		}
	}
	return b, nil
}
