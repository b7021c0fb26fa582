package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses, the same for every command (listed in provision --help and
// docs/cli.md), so scripts can tell a typo from a dead BMC.
const (
	CodeFailure     = 1 // the command failed (anything not below)
	CodeUsage       = 2 // bad flag, argument or selector: nothing was done
	CodeInventory   = 3 // the inventory does not load or validate: nothing was done
	CodeSomeFailed  = 4 // some of the selected nodes failed, the others succeeded
	CodeAllFailed   = 5 // every selected node failed
	CodeUnreachable = 6 // serve's API cannot be reached
)

// ExitCodesHelp is the table of exit statuses for help texts.
const ExitCodesHelp = `Exit status:
  0  success
  1  the command failed
  2  usage: a bad flag, argument or selector (nothing was done)
  3  the inventory does not load or validate (nothing was done)
  4  some of the selected nodes failed
  5  all of the selected nodes failed
  6  serve cannot be reached
  130, 143  interrupted (Ctrl-C, SIGTERM)`

// NodesFailed is the exit for a command over nodes: nil when none failed, else
// CodeSomeFailed or CodeAllFailed with msg.
func NodesFailed(failed, total int, msg string) error {
	switch {
	case failed <= 0:
		return nil
	case failed >= total:
		return &ExitError{Code: CodeAllFailed, Msg: msg}
	}
	return &ExitError{Code: CodeSomeFailed, Msg: msg}
}

// codeError gives err an exit status; it prints as an error (with Code's prefix).
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }
func (e *codeError) ExitCode() int { return e.code }

// WithCode makes err end the process with code (nil stays nil); an error that already
// carries a code keeps its own.
func WithCode(code int, err error) error {
	var ec interface{ ExitCode() int }
	if err == nil || errors.As(err, &ec) {
		return err
	}
	return &codeError{code: code, err: err}
}

// Usage is a usage error: exit status 2.
func Usage(err error) error { return WithCode(CodeUsage, err) }

// Usagef is a usage error with a formatted message.
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

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
	markUsage(root)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	// cobra's own errors for an unknown command or flag carry no type.
	if err != nil && (strings.HasPrefix(err.Error(), "unknown command ") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag")) {
		return Usage(err)
	}
	return err
}

// markUsage makes the flag and argument errors of every command in the tree usage errors.
func markUsage(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return Usage(err) })
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error { return Usage(args(cmd, a)) }
	}
	for _, sub := range c.Commands() {
		markUsage(sub)
	}
}

// Code prints err on stderr and returns the exit status for it: 0 for nil; for an error
// that has an ExitCode (an *ExitError), that code and its message as it is; else 1 and
// prefix followed by the error.
func Code(err error, stderr io.Writer, prefix string) int {
	if err == nil {
		return 0
	}
	var ce *codeError
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, prefix+err.Error())
		return ce.code
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
