package rack

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/racklift/racklift/internal/lab/ipmisim"
	"github.com/racklift/racklift/internal/lab/redfish"
)

// startIPMI runs ipmi_sim inside the namespace and follows its chassis control: every
// power change it records (on, off, reset, soft) is applied to the node's QEMU machine,
// with the boot device the BMC held at that moment.
func (r *Rack) startIPMI(ctx context.Context, n *node) error {
	dir := filepath.Join(n.dir, "ipmi")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sim, err := ipmisim.New(ipmisim.Config{Name: n.Name, Addr: n.Address, Port: n.BMCPort,
		Username: r.cfg.Username, Password: r.cfg.Password, Dir: dir, NetNS: r.ns.Name})
	if err != nil {
		return fmt.Errorf("rack: node %s: %w", n.Name, err)
	}
	if err := sim.Start(ctx); err != nil {
		return fmt.Errorf("rack: node %s: BMC %s: %w", n.Name, n.BMCURL(), err)
	}
	n.sim = sim
	r.pids.add(sim.PID(), "ipmi_sim", n.Name)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.followIPMI(n)
	}()
	return nil
}

// followIPMI polls the chassis control's record. ipmi_sim answers ipmitool once the
// change is recorded; the guest starts within a poll interval after.
func (r *Rack) followIPMI(n *node) {
	seen, started := 0, false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		calls := n.sim.Calls()
		for ; seen < len(calls); seen++ {
			reason, target := parseCall(calls[seen])
			var err error
			switch reason {
			case "on":
				err = n.machine.PowerOn(r.ctx, target)
				started = true
			case "reset":
				err = n.machine.Reset(r.ctx, target)
				started = true
			case "off", "soft":
				err = n.machine.PowerOff(r.ctx, reason == "soft")
				started = false
			}
			if err != nil {
				log.Printf("rack: node %s: ipmi %s: %v", n.Name, reason, err)
			}
		}
		// The guest powered itself off (or QEMU died): the BMC must say off, or the next
		// power on would change nothing.
		if started && n.machine.Guest() == nil && n.sim.On() {
			started = false
			if err := n.sim.MachineOff(); err != nil {
				log.Printf("rack: node %s: %v", n.Name, err)
			}
		}
	}
}

// parseCall reads a chassis-control record ("on boot=pxe") as a reason and the Redfish
// boot target it means.
func parseCall(c string) (reason, target string) {
	reason, rest, _ := strings.Cut(c, " ")
	switch strings.TrimPrefix(rest, "boot=") {
	case "pxe":
		target = redfish.BootPxe
	case "disk":
		target = redfish.BootHdd
	case "bios":
		target = redfish.BootBios
	}
	return reason, target
}
