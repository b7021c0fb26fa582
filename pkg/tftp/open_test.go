package tftp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/events"
)

// openServer serves a root holding "f" (1000 bytes, two lines), "big" (sparse, past
// cacheMax), the directory "dir" and the symlinks "escape" (out of the root) and "link"
// (to f). Its retransmit timer is a hang guard: tests end their transfers themselves.
func openServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must(t, os.MkdirAll(filepath.Join(root, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "f"), []byte(strings.Repeat("x", 499)+"\n"+strings.Repeat("y", 499)+"\n"), 0o644))
	big, err := os.Create(filepath.Join(root, "big"))
	must(t, err)
	must(t, big.Truncate(cacheMax+1))
	must(t, big.Close())
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o644))
	must(t, os.Symlink("../secret", filepath.Join(root, "escape")))
	must(t, os.Symlink("f", filepath.Join(root, "link")))
	cfg.Root, cfg.Timeout, cfg.Retries = root, hangGuard, 1
	s, err := New(cfg)
	must(t, err)
	t.Cleanup(func() { s.root.Close() })
	return s, root
}

// TestServerOpen: Open gives regular files inside the root (through a symlink that stays
// inside too) and refuses the rest, a missing file as ErrNotFound. Mutants (make mutate,
// server.go Open): its error checks.
func TestServerOpen(t *testing.T) {
	fast(t)
	s, _ := openServer(t, Config{})
	for _, tc := range []struct {
		name    string
		wantErr string // "" opens
		is      error
	}{
		{name: "f"},
		{name: "link"},
		{name: "nope", wantErr: "nope: file not found", is: ErrNotFound},
		{name: "../f", wantErr: "'..' is refused", is: ErrTraversal},
		{name: "escape", wantErr: "escape: openat escape: path escapes from parent"},
		{name: "dir", wantErr: "dir: not a regular file"},
	} {
		f, err := s.Open(tc.name)
		if f != nil {
			f.Close()
		}
		switch {
		case tc.wantErr == "" && (err != nil || f == nil):
			t.Errorf("Open(%q): %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || f != nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Open(%q) = %v, %v; want an error containing %q", tc.name, f, err, tc.wantErr)
		case tc.is != nil && !errors.Is(err, tc.is):
			t.Errorf("Open(%q): %v, not %v", tc.name, err, tc.is)
		}
	}
}

// TestServerSource: a file up to cacheMax is served from memory (nothing to close), a
// larger one from the file itself (closed at the end), netascii converted; a file that
// cannot be opened or converted is refused. Mutants (make mutate, server.go source): the
// cache's answer checked, the mode, the error checks.
func TestServerSource(t *testing.T) {
	fast(t)
	s, _ := openServer(t, Config{})
	for _, tc := range []struct {
		name     string
		netascii bool
		size     int64
		file     bool // served from the file, which the caller closes
		wantErr  string
	}{
		{name: "f", size: 1000},
		{name: "f", netascii: true, size: 1002}, // two line ends, CR LF
		{name: "big", size: cacheMax + 1, file: true},
		{name: "big", netascii: true, wantErr: "too large for a netascii transfer"},
		{name: "nope", wantErr: "file not found"},
	} {
		src, size, closer, err := s.source(tc.name, tc.netascii)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("source(%q, netascii %v): %v; want an error containing %q", tc.name, tc.netascii, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("source(%q, netascii %v): %v", tc.name, tc.netascii, err)
			continue
		}
		if _, isFile := src.(*os.File); size != tc.size || isFile != tc.file || (closer != nil) != tc.file {
			t.Errorf("source(%q, netascii %v): size %d, %T, closer %v; want size %d, from the file %v", tc.name, tc.netascii, size, src, closer, tc.size, tc.file)
		}
		if closer != nil {
			closer.Close()
		}
	}
}

// TestOpenNegotiatesOptions: the transfer a request starts carries the options granted
// (blksize within the server's cap, tsize, windowsize only when the server windows) in
// its OACK, or none; netascii is converted; a refused file is answered with its TFTP
// error code and gives its slot back. Mutants (make mutate, server.go open): the mode,
// the window check, the OACK's presence.
func TestOpenNegotiatesOptions(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		name      string
		cfg       Config
		file      string
		mode      string
		opts      []option
		oack      string // the options in the OACK, "" none
		blksize   int
		window    int
		size      int64
		refused   uint16 // the TFTP error code; 0: started
		refuseErr error
	}{
		{name: "no options", file: "f", mode: "octet", blksize: 512, window: 1, size: 1000},
		{name: "blksize and tsize", file: "f", mode: "octet", opts: []option{{"blksize", "1400"}, {"tsize", "0"}},
			oack: "blksize=1400 tsize=1000", blksize: 1400, window: 1, size: 1000},
		{name: "blksize past the cap", cfg: Config{MaxBlockSize: 1024}, file: "f", mode: "octet", opts: []option{{"blksize", "1468"}},
			oack: "blksize=1024", blksize: 1024, window: 1, size: 1000},
		{name: "blksize out of range", file: "f", mode: "octet", opts: []option{{"blksize", "7"}}, blksize: 512, window: 1, size: 1000},
		{name: "windowsize", file: "f", mode: "octet", opts: []option{{"windowsize", "4"}}, oack: "windowsize=4", blksize: 512, window: 4, size: 1000},
		{name: "windowsize past the cap", cfg: Config{Window: 2}, file: "f", mode: "octet", opts: []option{{"windowsize", "4"}},
			oack: "windowsize=2", blksize: 512, window: 2, size: 1000},
		{name: "windowsize, lock-step server", cfg: Config{Window: 1}, file: "f", mode: "octet", opts: []option{{"windowsize", "4"}, {"tsize", "0"}},
			oack: "tsize=1000", blksize: 512, window: 1, size: 1000},
		{name: "netascii", file: "f", mode: "netascii", opts: []option{{"tsize", "0"}}, oack: "tsize=1002", blksize: 512, window: 1, size: 1002},
		{name: "missing", file: "nope", mode: "octet", refused: errNotFound, refuseErr: ErrNotFound},
		{name: "directory", file: "dir", mode: "octet", refused: errAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openServer(t, tc.cfg)
			p, err := s.port(netip.MustParseAddr("127.0.0.1"))
			must(t, err)
			t.Cleanup(func() { p.conn.Close(); <-p.done })
			peer := udp(t).LocalAddr().(*net.UDPAddr).AddrPort()
			released := 0
			var refusedCode uint16
			var refusedErr error
			s.open(p, peer, request{op: opRRQ, filename: tc.file, mode: tc.mode, opts: tc.opts},
				func() { released++ }, func(code uint16, err error) { refusedCode, refusedErr = code, err })
			p.mu.Lock()
			x := p.xfers[peer]
			if x != nil {
				p.finish(x, errors.New("test done")) // no retransmissions after the test
			}
			p.mu.Unlock()
			if tc.refused != 0 {
				if x != nil || refusedCode != tc.refused || released != 1 || tc.refuseErr != nil && !errors.Is(refusedErr, tc.refuseErr) {
					t.Errorf("refused with code %d (%v), %d releases, transfer %v; want code %d, 1 release, none", refusedCode, refusedErr, released, x != nil, tc.refused)
				}
				return
			}
			if x == nil {
				t.Fatalf("no transfer started (refused: %d %v)", refusedCode, refusedErr)
			}
			if got := oackOptions(x.oack); got != tc.oack || x.blksize != tc.blksize || x.window != tc.window || x.size != tc.size {
				t.Errorf("transfer: OACK %q blksize %d window %d size %d; want OACK %q blksize %d window %d size %d",
					got, x.blksize, x.window, x.size, tc.oack, tc.blksize, tc.window, tc.size)
			}
			// Without an option granted there is no OACK at all: block 1 goes first.
			if (x.oack == nil) != (tc.oack == "") {
				t.Errorf("OACK packet % x, want one only for options %q", x.oack, tc.oack)
			}
			if released != 1 { // finish released the slot, once
				t.Errorf("%d releases after the transfer ended, want 1", released)
			}
			want := []byte(strings.Repeat("x", 499) + "\n" + strings.Repeat("y", 499) + "\n")
			if tc.mode == "netascii" {
				want = bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
			}
			if got, err := io.ReadAll(io.NewSectionReader(x.src, 0, x.size)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("transfer's content: %q, %v", got, err)
			}
		})
	}
}

// oackOptions is an OACK's options as "name=value ..."; "" for none.
func oackOptions(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	f := strings.Split(strings.TrimSuffix(string(b[2:]), "\x00"), "\x00")
	var out []string
	for i := 0; i+1 < len(f); i += 2 {
		out = append(out, f[i]+"="+f[i+1])
	}
	return strings.Join(out, " ")
}

// nodes names 10.0.0.5 node-5.
type nodes struct{}

func (nodes) NodeByIP(ip netip.Addr) (node, mac string, ok bool) {
	if ip == netip.MustParseAddr("10.0.0.5") {
		return "node-5", "52:54:00:00:00:05", true
	}
	return "", "", false
}

// TestPublishNamesTheNode: an event carries the client's address, its node and MAC
// when Nodes knows it, and the error's text. Mutants (make mutate, server.go publish).
func TestPublishNamesTheNode(t *testing.T) {
	fast(t)
	ev := events.New(nil, nil)
	s, err := New(Config{Root: t.TempDir(), Events: ev, Nodes: nodes{}})
	must(t, err)
	t.Cleanup(func() { s.root.Close() })
	s.publish(events.TFTPTransfer, netip.MustParseAddr("::ffff:10.0.0.5"), "ipxe.efi", 1000, time.Second, nil)
	s.publish(events.TFTPRefused, netip.MustParseAddr("10.0.0.6"), "nope", 0, 0, ErrNotFound)
	s.publish(events.TFTPRefused, netip.Addr{}, "x", 0, 0, nil)
	var got []string
	for _, e := range ev.Recent("") {
		got = append(got, strings.Join([]string{string(e.Kind), e.IP, e.Node, e.MAC, e.Detail, e.Err}, "|"))
	}
	want := []string{
		"tftp.transfer|10.0.0.5|node-5|52:54:00:00:00:05|ipxe.efi|",
		"tftp.refused|10.0.0.6|||nope|file not found",
		"tftp.refused||||x|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// No stream: nothing to publish to, and no panic.
	s.cfg.Events = nil
	s.publish(events.TFTPTransfer, netip.MustParseAddr("10.0.0.5"), "f", 0, 0, nil)
}
