package main

import (
	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
)

// This file keeps bench.go compiling unchanged until the benchmarks move to their own
// home (issue 11): bench.go registers its command from init() into root, and spells the
// exit error and the size parser the old way. Delete this file when bench.go moves.

// root collects the commands registered from init(); newRoot adds them to each tree it
// builds. Such a command is one value, shared by every tree built in a process.
var root registry

type registry struct{ cmds []*cobra.Command }

func (r *registry) AddCommand(cmds ...*cobra.Command) { r.cmds = append(r.cmds, cmds...) }

// exitError is bench.go's name for cli.ExitError: cli.Code gives its code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

// parseSize is bench.go's name for cli.ParseSize.
var parseSize = cli.ParseSize
