package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/internal/testenv"
)

func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{name: "nil", err: nil, code: 0, stderr: ""},
		{name: "plain error", err: errors.New("boom"), code: 1, stderr: "error: boom\n"},
		{name: "exit error", err: Exitf(3, "node %s: 2 checks failed", "n1"), code: 3, stderr: "node n1: 2 checks failed\n"},
		{name: "silent exit", err: &ExitError{Code: 1}, code: 1, stderr: ""},
		{name: "wrapped exit", err: fmt.Errorf("up: %w", &ExitError{Code: 2, Msg: "late"}), code: 2, stderr: "up: late\n"},
		{name: "interrupted", err: Interrupted(syscall.SIGTERM, "stopped by %v", syscall.SIGTERM), code: 143, stderr: "stopped by terminated\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := Code(tc.err, &b, "error: "); code != tc.code || b.String() != tc.stderr {
				t.Errorf("Code = %d, stderr %q; want %d, %q", code, b.String(), tc.code, tc.stderr)
			}
		})
	}
}

// Execute runs the tree it is given with its own args and writers, nothing global.
func TestExecute(t *testing.T) {
	t.Parallel()
	build := func() *cobra.Command {
		var name string
		root := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true}
		hi := &cobra.Command{Use: "hi", RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return Exitf(4, "no name")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "hi %s\n", name)
			fmt.Fprintln(cmd.ErrOrStderr(), "said hi")
			return nil
		}}
		hi.Flags().StringVar(&name, "name", "", "")
		root.AddCommand(hi)
		return root
	}
	var out, errOut bytes.Buffer
	if err := Execute(context.Background(), build(), []string{"hi", "--name", "ann"}, &out, &errOut); err != nil || out.String() != "hi ann\n" || errOut.String() != "said hi\n" {
		t.Fatalf("hi --name ann: %v %q %q", err, out.String(), errOut.String())
	}
	out.Reset()
	err := Execute(context.Background(), build(), []string{"hi"}, &out, &errOut)
	if Code(err, &errOut, "") != 4 || out.Len() != 0 {
		t.Errorf("hi on a fresh tree: %v %q", err, out.String())
	}
}

func TestSignalContext(t *testing.T) {
	// Not parallel: it signals the test process (SIGUSR1, which nothing else handles).
	var order []string
	ctx, caught, stop := SignalContext(context.Background(), func() { order = append(order, "before") }, syscall.SIGUSR1)
	defer stop()
	if caught() != nil || ctx.Err() != nil {
		t.Fatal("ended before any signal")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context did not end on SIGUSR1")
	}
	order = append(order, "done")
	if caught() != syscall.SIGUSR1 || strings.Join(order, ",") != "before,done" {
		t.Errorf("caught %v, order %v; want SIGUSR1 and before ahead of the end", caught(), order)
	}

	ctx, caught, stop = SignalContext(context.Background(), nil)
	stop()
	stop() // twice is fine
	if ctx.Err() == nil || caught() != nil {
		t.Errorf("after stop: ctx %v, caught %v", ctx.Err(), caught())
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	reg, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if IsTerminal(&bytes.Buffer{}) || IsTerminal(reg) || IsTerminal(null) {
		t.Error("a buffer, a regular file or /dev/null counted as a terminal")
	}
	if _, _, ok := TermSize(null); ok {
		t.Error("/dev/null has a terminal size")
	}
	// A pseudo-terminal set to 80x24, as an operator's terminal window.
	pty := openPTY(t, 80, 24)
	if !IsTerminal(pty) {
		t.Error("a pseudo-terminal did not count")
	}
	if cols, rows, ok := TermSize(pty); !ok || cols != 80 || rows != 24 {
		t.Errorf("TermSize = %dx%d %v, want 80x24", cols, rows, ok)
	}
}

// openPTY opens the terminal side of a new pseudo-terminal of the given size.
func openPTY(t *testing.T, cols, rows int) *os.File {
	t.Helper()
	testenv.NeedFile(t, "/dev/ptmx")
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		t.Fatal(err)
	}
	return slave
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "512M", want: 512 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1GiB", want: 1 << 30},
		{in: "1gb", want: 1 << 30},
		{in: " 4k ", want: 4 << 10},
		{in: "2T", want: 2 << 40},
		{in: "0", err: "is not a size"},
		{in: "-1G", err: "is not a size"},
		{in: "12Q", err: "is not a size"},
		{in: "", err: "is not a size"},
		{in: "99999999T", err: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("ParseSize(%q) = %d, %v; want an error saying %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSdNotifySendsReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := SdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v; want READY=1", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := SdNotify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nothing done", err)
	}
}
