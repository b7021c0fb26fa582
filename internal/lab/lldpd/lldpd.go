// Package lldpd runs Debian's lldpd, a real LLDP implementation, as the switch side of a
// lab link: one daemon per port, inside a network namespace, sending the system name,
// port id and description, port VLAN id, VLAN name TLVs and maximum frame size a test
// or the virtual rack asks for. The host kernel needs no 802.1Q for it: the VLAN TLVs
// are advertised data (lldpd's custom TLVs), as a switch would send them.
package lldpd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/racklift/racklift/internal/testenv"
)

// VLAN is one VLAN the port advertises (802.1 VLAN name TLV).
type VLAN struct {
	ID   int
	Name string
}

// Port is what one switch port says over LLDP.
type Port struct {
	Interface   string // the switch-side link lldpd sends on
	System      string // the switch's name (LLDP system name)
	PortID      string // sent as a locally assigned port id, e.g. Ethernet12
	Description string
	PVID        int    // 802.1 port VLAN id; 0: none sent
	VLANs       []VLAN // 802.1 VLAN names
	// MaxFrameSize is sent as the 802.3 maximum frame size TLV; 0: none sent.
	MaxFrameSize int
}

// Daemon is one running lldpd.
type Daemon struct {
	Port Port
	cmd  *exec.Cmd
	dir  string
	log  *testenv.SyncBuffer // lldpd's output, written by exec's copier and read by Wait
	done chan struct{}
}

// Start runs lldpd in the foreground (-d) inside the named namespace (netns "" runs it
// here), with its control socket and configuration in a directory of its own. It sends
// every second. Stop ends it and removes the directory.
func Start(netns string, p Port) (*Daemon, error) { return StartIn("", netns, p) }

// StartIn is Start with the daemon's directory made under parent ("": the system's
// temporary directory), which every directory above must let _lldpd through (0755).
func StartIn(parent, netns string, p Port) (*Daemon, error) {
	// lldpd runs lldpcli as its unprivileged _lldpd user, which must reach the control
	// socket: not under a test's 0700 temporary directory.
	dir, err := os.MkdirTemp(parent, "racklift-lldpd-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d, err := start(netns, dir, p)
	if err != nil {
		os.RemoveAll(dir)
	}
	return d, err
}

func start(netns, dir string, p Port) (*Daemon, error) {
	conf := filepath.Join(dir, "lldpd.conf")
	if err := os.WriteFile(conf, []byte(Config(p)), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-d", "-u", filepath.Join(dir, "lldpd.socket"), "-I", p.Interface, "-O", conf, "-k", "-i"}
	bin, err := exec.LookPath("lldpd")
	if err != nil {
		bin = "/usr/sbin/lldpd"
	}
	var cmd *exec.Cmd
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	d := &Daemon{Port: p, cmd: cmd, dir: dir, log: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lldpd on %s: %w", p.Interface, err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	return d, nil
}

// Config is the lldpcli configuration lldpd reads at start for p.
func Config(p Port) string {
	var b strings.Builder
	fmt.Fprintf(&b, "configure system hostname %s\n", p.System)
	fmt.Fprintf(&b, "configure system description \"racklift lab switch %s\"\n", p.System)
	b.WriteString("configure lldp tx-interval 1\n")
	fmt.Fprintf(&b, "configure ports %s lldp portidsubtype local %s description \"%s\"\n", p.Interface, p.PortID, p.Description)
	custom := func(oui string, subtype int, info []byte) {
		hex := make([]string, len(info))
		for i, c := range info {
			hex[i] = fmt.Sprintf("%02x", c)
		}
		fmt.Fprintf(&b, "configure ports %s lldp custom-tlv add oui %s subtype %d oui-info %s\n", p.Interface, oui, subtype, strings.Join(hex, ","))
	}
	if p.PVID > 0 {
		custom("00,80,c2", 1, []byte{byte(p.PVID >> 8), byte(p.PVID)})
	}
	for _, v := range p.VLANs {
		custom("00,80,c2", 3, append([]byte{byte(v.ID >> 8), byte(v.ID), byte(len(v.Name))}, v.Name...))
	}
	if p.MaxFrameSize > 0 {
		custom("00,12,0f", 4, []byte{byte(p.MaxFrameSize >> 8), byte(p.MaxFrameSize)})
	}
	return b.String()
}

// Stop ends lldpd, waits for it and removes its directory; the log is in the error
// when it had already died.
func (d *Daemon) Stop() error {
	defer os.RemoveAll(d.dir)
	select {
	case <-d.done:
		return fmt.Errorf("lldpd on %s had exited: %s", d.Port.Interface, d.Log())
	default:
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	return nil
}

// Running reports whether lldpd is still up.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// PID is lldpd's process id (for a rack's record of what to end after a crash).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Log is what lldpd printed.
func (d *Daemon) Log() string { return d.log.String() }

// Wait blocks until lldpd has read its configuration (its log says it resumed).
func (d *Daemon) Wait(ctx context.Context) error {
	for !strings.Contains(d.Log(), "lldpd should resume operations") {
		if !d.Running() {
			return fmt.Errorf("lldpd on %s exited: %s", d.Port.Interface, d.Log())
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("lldpd on %s did not read its configuration: %s", d.Port.Interface, d.Log()))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
