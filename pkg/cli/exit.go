package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spf13/cobra"
)

// ExitError ends a command with Code; Msg, if any, is printed on stderr as it is.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// ExitCode is the process's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

// Exitf is an ExitError with a formatted message.
func Exitf(code int, format string, a ...any) *ExitError {
	return &ExitError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// Interrupted is the exit for a command stopped by sig: status 128+signal, as a shell
// reports it.
func Interrupted(sig os.Signal, format string, a ...any) *ExitError {
	code := 130
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	return Exitf(code, format, a...)
}

// Execute runs root with args, its output going to stdout and stderr, and returns the
// error of the command that ran. root must be freshly built: cobra keeps flag values.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) error {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// Code prints err on stderr and returns the exit status for it: 0 for nil; for an error
// that has an ExitCode (an *ExitError), that code and its message as it is; else 1 and
// prefix followed by the error.
func Code(err error, stderr io.Writer, prefix string) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, prefix+err.Error())
	return 1
}
