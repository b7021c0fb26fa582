package lldp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// DefaultWait covers a switch's usual 30-second LLDP interval with a little to spare.
const DefaultWait = 35 * time.Second

// ListenAll listens on every interface at once and returns what each heard, in order.
func ListenAll(ctx context.Context, ifnames []string, wait time.Duration) []check.LLDP {
	out := make([]check.LLDP, len(ifnames))
	var wg sync.WaitGroup
	for i, name := range ifnames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = Listen(ctx, name, wait)
		}()
	}
	wg.Wait()
	return out
}

// WriteText prints what each interface heard, one block per interface.
func WriteText(w io.Writer, ls []check.LLDP) error {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case l.Error != "":
			fmt.Fprintf(&b, "%s: %s\n", l.Interface, l.Error)
			continue
		case !l.Heard:
			fmt.Fprintf(&b, "%s: no LLDP within %d s: the switch does not send LLDP on this port, or the link is down\n", l.Interface, l.WaitSeconds)
			continue
		}
		fmt.Fprintf(&b, "%s (%s): %s %s\n", l.Interface, l.MAC, l.Switch(), l.Port())
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "  %-18s %s\n", k, v)
			}
		}
		row("chassis id", l.ChassisID+" ("+l.ChassisIDType+")")
		row("system name", l.SystemName)
		row("system description", l.SystemDesc)
		row("port id", l.PortID+" ("+l.PortIDType+")")
		row("port description", l.PortDescription)
		row("management address", l.MgmtAddress)
		row("VLANs", l.VLANText())
		if l.MaxFrameSize > 0 {
			row("max frame size", fmt.Sprint(l.MaxFrameSize))
		}
		if a := l.Aggregation; a != nil {
			row("aggregation", fmt.Sprintf("capable %v, enabled %v, port %d", a.Capable, a.Enabled, a.PortID))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Interfaces are the NICs the expectations put networks on, each once: the inventory's
// name, or the local interface holding the inventory's MAC where the names differ (the
// ramdisk's kernel may name NICs unlike the installed system).
func Interfaces(exp *expect.Expectations) []string {
	var out []string
	for _, n := range exp.Networks {
		name := n.Interface
		if n.MAC != "" {
			if byMAC := interfaceWithMAC(n.MAC); byMAC != "" {
				name = byMAC
			}
		}
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func interfaceWithMAC(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return ""
	}
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		// VLAN sub-interfaces share their parent's MAC: the parent has no '.'.
		if bytes.Equal(ifi.HardwareAddr, hw) && !strings.Contains(ifi.Name, ".") && ifi.Flags&net.FlagLoopback == 0 {
			if _, err := os.Stat("/sys/class/net/" + ifi.Name + "/device"); err == nil {
				return ifi.Name
			}
		}
	}
	return ""
}
