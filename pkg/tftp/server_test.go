package tftp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/events"
)

const debianUndionly = "/usr/lib/ipxe/undionly.kpxe"

// startServer serves a fresh root on a loopback port; it holds undionly.kpxe, a
// symlink leading out of the root, one leading to an absolute path and one that
// stays inside.
func startServer(t *testing.T) (addr string, root string, ev *events.Stream, want []byte) {
	t.Helper()
	testenv.NeedFile(t, debianUndionly)
	want, err := os.ReadFile(debianUndionly)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root = filepath.Join(dir, "pxe")
	must(t, os.MkdirAll(filepath.Join(root, "arm64"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "undionly.kpxe"), want, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("outside the root"), 0o644))
	must(t, os.Symlink("../secret", filepath.Join(root, "escape")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "abs-link")))
	must(t, os.Symlink("undionly.kpxe", filepath.Join(root, "arm64", "..", "inside-link")))

	ev = events.New(nil, nil)
	// Every test client comes from 127.0.0.1: lift the per-client cap (tested on its own).
	// The retransmit timer is not what these tests are about (TestRetriesExact is): the
	// product's 2 s and 30 retries give up only after a minute without an ACK, so a client
	// starved of CPU on a loaded machine is waited for; a server that stopped answering
	// still fails the test (a hang guard, not a speed bound).
	s, err := New(Config{Root: root, Events: ev, Timeout: 2 * time.Second, Retries: 30, MaxPerClient: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	shutdown(t, s)
	return conn.LocalAddr().String(), root, ev, want
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hangGuard bounds waits that end as soon as what they wait for happens: it only turns a
// hang into a failure, so it is far above what a loaded machine needs.
const hangGuard = 2 * time.Minute

// tftpHPA runs tftp-hpa's client; it returns what it printed. Its own retransmit timer
// is 5 s and it gives up after 120 s without progress (the commands go on stdin: -c
// takes one command and leaves tftp-hpa's 25 s total, which a starved client can use up).
func tftpHPA(t *testing.T, addr string, cmd ...string) string {
	t.Helper()
	bin := testenv.NeedCommand(t, "tftp")[0]
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c := exec.CommandContext(ctx, bin, "-m", "binary", host, port)
	c.Stdin = strings.NewReader("rexmt 5\ntimeout 120\n" + strings.Join(cmd, " ") + "\nquit\n")
	out, _ := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("tftp %v: timed out (no answer from the server): %s", cmd, out)
	}
	return string(out)
}

// client is a pin/tftp client that waits for a loaded server (5 s per packet, 20 tries).
func client(t *testing.T, addr string) *tftp.Client {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	c.SetRetries(20)
	return c
}

func TestTFTPHPAFetchIsByteIdentical(t *testing.T) {
	network(t)
	addr, _, ev, want := startServer(t)
	dst := filepath.Join(t.TempDir(), "got.kpxe")
	if out := tftpHPA(t, addr, "get", "undionly.kpxe", dst); strings.Contains(out, "Error") {
		t.Fatalf("tftp get: %s", out)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %d bytes, differ from %s (%d bytes)", len(got), debianUndionly, len(want))
	}
	waitEvent(t, ev, events.TFTPTransfer, "undionly.kpxe", int64(len(want)))
}

func TestTFTPHPARefusals(t *testing.T) {
	network(t)
	addr, root, ev, _ := startServer(t)
	up := filepath.Join(t.TempDir(), "upload")
	must(t, os.WriteFile(up, []byte("payload"), 0o644))
	for _, tc := range []struct {
		what string
		cmd  []string
		code string // the TFTP error code: 1 not found, 2 access violation
		msg  string // part of the TFTP error the client must print
	}{
		{what: "traversal", cmd: []string{"get", "../secret"}, code: "2", msg: "'..' is refused"},
		{what: "deep traversal", cmd: []string{"get", "arm64/../../secret"}, code: "2", msg: "'..' is refused"},
		{what: "absolute path", cmd: []string{"get", "/etc/passwd"}, code: "2", msg: "absolute paths are refused"},
		// The symlink cases must be refused by the root (os.Root), not merely echo the
		// name back: a server that followed the link would send the file instead.
		{what: "symlink escaping the root", cmd: []string{"get", "escape"}, code: "2", msg: "escape: openat escape: path escapes from parent"},
		{what: "symlink to an absolute path", cmd: []string{"get", "abs-link"}, code: "2", msg: "abs-link: openat abs-link: path escapes from parent"},
		{what: "missing file", cmd: []string{"get", "nope.efi"}, code: "1", msg: "file not found"},
		{what: "directory", cmd: []string{"get", "arm64"}, code: "2", msg: "not a regular file"},
		{what: "write", cmd: []string{"put", up, "upload"}, code: "2", msg: "read-only"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			cmd := tc.cmd
			var dst string
			if cmd[0] == "get" {
				dst = filepath.Join(t.TempDir(), "out")
				cmd = append(cmd, dst)
			}
			out := tftpHPA(t, addr, cmd...)
			if !strings.Contains(out, "Error code "+tc.code+":") || !strings.Contains(out, tc.msg) {
				t.Fatalf("tftp %v printed %q; want TFTP error code %s containing %q", cmd, out, tc.code, tc.msg)
			}
			if dst == "" {
				return
			}
			// Nothing of the refused file may have arrived (tftp-hpa leaves an empty file).
			if got, err := os.ReadFile(dst); err == nil && len(got) > 0 {
				t.Fatalf("tftp %v was refused but %d bytes arrived: %q", cmd, len(got), got[:min(len(got), 40)])
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "upload")); err == nil {
		t.Fatal("the refused write created a file in the root")
	}
	refused := 0
	for _, e := range ev.Recent("") {
		if e.Kind == events.TFTPRefused {
			refused++
		}
	}
	if refused != 8 {
		t.Errorf("%d tftp.refused events, want 8", refused)
	}
}

// TestOptionsNegotiated: blksize and tsize come back in the OACK.
func TestOptionsNegotiated(t *testing.T) {
	network(t)
	addr, _, _, want := startServer(t)
	c := client(t, addr)
	c.SetBlockSize(1400)
	c.RequestTSize(true)
	wt, err := c.Receive("inside-link", "octet")
	if err != nil {
		t.Fatal(err)
	}
	n, ok := wt.(tftp.IncomingTransfer).Size()
	if !ok || n != int64(len(want)) {
		t.Fatalf("tsize = %d, %v; want %d", n, ok, len(want))
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("content differs")
	}
}

func waitEvent(t *testing.T, ev *events.Stream, kind events.Kind, detail string, bytes int64) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		for _, e := range ev.Recent("") {
			if e.Kind == kind && e.Detail == detail && e.Err == "" && e.Bytes == bytes {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event for %s with %s bytes; have %+v", kind, detail, strconv.FormatInt(bytes, 10), ev.Recent(""))
}

// TestOACKNegotiatesBlksizeAndTsize reads the server's OACK off the wire: the blksize a
// PXE ROM asks for and the file's size come back.
func TestOACKNegotiatesBlksizeAndTsize(t *testing.T) {
	network(t)
	addr, _, _, want := startServer(t)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	rrq := []byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x001432\x00tsize\x000\x00")
	if _, err := c.WriteTo(rrq, srv); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 || buf[1] != 6 {
		t.Fatalf("want an OACK (opcode 6), got % x", buf[:n])
	}
	opts := map[string]string{}
	f := strings.Split(string(buf[2:n]), "\x00")
	for i := 0; i+1 < len(f); i += 2 {
		opts[f[i]] = f[i+1]
	}
	if opts["blksize"] != "1432" || opts["tsize"] != strconv.Itoa(len(want)) {
		t.Fatalf("OACK options %v, want blksize 1432 and tsize %d", opts, len(want))
	}
	// ACK block 0: the first DATA block carries 1432 bytes.
	c.WriteTo([]byte{0, 4, 0, 0}, from)
	n, _, err = c.ReadFrom(buf)
	if err != nil || n != 4+1432 || buf[1] != 3 {
		t.Fatalf("first DATA block: %d bytes, %v", n, err)
	}
	c.WriteTo([]byte{0, 5, 0, 0, 'd', 'o', 'n', 'e', 0}, from) // abort politely

	// A larger request is capped at 1468, which fills a 1500-byte Ethernet frame.
	c.WriteTo([]byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x0065464\x00"), srv)
	n, from, err = c.ReadFrom(buf)
	if err != nil || !strings.Contains(string(buf[2:n]), "blksize\x001468\x00") {
		t.Fatalf("blksize 65464 answered %q, %v; want 1468", buf[:n], err)
	}
	c.WriteTo([]byte{0, 5, 0, 0, 'd', 'o', 'n', 'e', 0}, from)
}

// TestManyClientsAtOnce: a small boot storm over loopback, every client byte-identical.
func TestManyClientsAtOnce(t *testing.T) {
	network(t)
	addr, _, ev, want := startServer(t)
	const clients = 200
	errs := make(chan error, clients)
	for range clients {
		go func() {
			c, err := tftp.NewClient(addr)
			if err != nil {
				errs <- err
				return
			}
			c.SetBlockSize(1468)
			// 200 clients in one process on a loaded machine: a client may not run for
			// seconds. Waiting for it is what a real storm's clients (each its own
			// machine) never need; the storm's property is that every one gets the file.
			c.SetTimeout(5 * time.Second)
			c.SetRetries(20)
			wt, err := c.Receive("undionly.kpxe", "octet")
			if err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			if _, err := wt.WriteTo(&buf); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(buf.Bytes(), want) {
				errs <- fmt.Errorf("got %d bytes, differ from the %d served", buf.Len(), len(want))
				return
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The last ACK reaches the server after the client returned: wait for it.
	ok := 0
	for deadline := time.Now().Add(hangGuard); ok != clients && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ok = 0
		for _, e := range ev.Recent("") {
			if e.Kind == events.TFTPTransfer && e.Err == "" && e.Bytes == int64(len(want)) {
				ok++
			}
		}
	}
	if ok != clients {
		t.Errorf("%d transfer events without error, want %d", ok, clients)
	}
}

// TestWindowsizeOnTheWire: a client asking windowsize 4 (as EDK2 does) gets it in the
// OACK and four blocks per ACK; an ACK short of the window (a block was lost) makes
// the server resend from the block after it, and the file arrives whole.
func TestWindowsizeOnTheWire(t *testing.T) {
	network(t)
	addr, _, ev, want := startServer(t)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	c.WriteTo([]byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x001024\x00windowsize\x004\x00"), srv)
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil || !strings.Contains(string(buf[2:n]), "windowsize\x004\x00") {
		t.Fatalf("OACK %q, %v; want windowsize 4", buf[:n], err)
	}
	ack := func(b int) { c.WriteTo([]byte{0, 4, byte(b >> 8), byte(b)}, from) }
	read := func(block int) []byte { // the next DATA packet, which must carry block
		t.Helper()
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil || n < 4 || buf[1] != 3 {
				t.Fatalf("want DATA %d, got % x, %v", block, buf[:max(0, min(n, 8))], err)
			}
			got := int(buf[2])<<8 | int(buf[3])
			if got < block && got > block-8 {
				continue // a window resent on the server's timer (a loaded machine acks late)
			}
			if got != block {
				t.Fatalf("block %d, want %d", got, block)
			}
			return bytes.Clone(buf[4:n])
		}
	}
	block := func(b int) []byte { return want[(b-1)*1024 : b*1024] }
	ack(0)
	for b := 1; b <= 4; b++ {
		if p := read(b); !bytes.Equal(p, block(b)) {
			t.Fatalf("block %d: %d bytes differ from the file's", b, len(p))
		}
	}
	// Pretend block 3 was lost: acknowledge 2. The server starts again at 3, and the
	// resent window must carry the file's bytes 3-6, not stale or shifted buffers.
	ack(2)
	var got []byte
	got = append(got, want[:2*1024]...)
	for b := 3; b <= 6; b++ {
		p := read(b)
		if !bytes.Equal(p, block(b)) {
			t.Fatalf("resent block %d: %d bytes differ from the file's", b, len(p))
		}
		got = append(got, p...)
	}
	ack(0) // stale: ignored
	ack(6)
	for b := 7; ; b++ {
		p := read(b)
		got = append(got, p...)
		if len(p) < 1024 || b%4 == 2 { // each window ends on 10, 14, ... (6 + 4k)
			ack(b)
		}
		if len(p) < 1024 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, differ from the %d served", len(got), len(want))
	}
	waitEvent(t, ev, events.TFTPTransfer, "undionly.kpxe", int64(len(want)))
}

// TestWindowsizeRefusedWhenLockStep: Window 1 leaves windowsize out of the OACK.
func TestWindowsizeRefusedWhenLockStep(t *testing.T) {
	network(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0o644))
	s, err := New(Config{Root: dir, Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	shutdown(t, s)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteTo([]byte("\x00\x01f\x00octet\x00tsize\x000\x00windowsize\x0016\x00"), conn.LocalAddr())
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "\x00\x06tsize\x005\x00" {
		t.Fatalf("OACK %q, %v; want tsize 5 alone", buf[:n], err)
	}
	c.WriteTo([]byte{0, 5, 0, 0, 0}, from)
}

// TestNetascii: a netascii fetch arrives as the file was (the client converts back).
func TestNetascii(t *testing.T) {
	network(t)
	addr, root, _, _ := startServer(t)
	text := []byte(strings.Repeat("line one\nline two\r\n", 200))
	must(t, os.WriteFile(filepath.Join(root, "boot.cfg"), text, 0o644))
	c := client(t, addr)
	wt, err := c.Receive("boot.cfg", "netascii")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), text) {
		t.Fatalf("netascii round trip: got %d bytes, want %d", buf.Len(), len(text))
	}
}
