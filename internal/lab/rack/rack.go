// Package rack is the virtual rack of `make demo` and the end-to-end tests: the lab
// inventory's nodes as QEMU guests in one network namespace, each behind its own virtual
// BMC listening where the inventory says (Redfish from internal/lab/redfish, or OpenIPMI's
// ipmi_sim), their NICs on two bridges standing in for the switches:
//
//	br-prov   provisioning "switch", no address (provision net apply puts the server's on it)
//	br-stor   storage trunk, MTU 9000: the guests' tagged VLAN frames pass through it
//
// Guests start powered off; powering one on through its BMC starts QEMU booting from the
// BMC's boot override (Pxe: QEMU's iPXE ROM on the first NIC). Everything the rack starts
// dies with it: Close, or Down after the process that started it was killed.
package rack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/racklift/racklift/internal/lab/ipmisim"
	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/pkg/inventory"
)

// Names of the rack's links and its default namespace.
const (
	DefaultNetNS       = "racklift-lab"
	ProvisioningBridge = "br-prov"
	StorageBridge      = "br-stor"
	// HostNIC is the provisioning host's NIC, cabled to br-prov (peer prov0-sw): give it
	// to provision net apply --trunk and provision serve --interface, as eno1 on a real host.
	HostNIC       = "prov0"
	DefaultMemory = 1024 // MiB per guest: the ramdisk streams and writes the OS image
	DiskSize      = 256 << 20
	// OSDiskSize is the blank disk each guest gets for its OS image (sparse: only what the
	// deploy writes takes space). The lab profile's root device hints pick it by size.
	OSDiskSize = 4 << 30
	storageMTU = 9000
)

// Config describes a rack.
type Config struct {
	// Inventory is the lab inventory (file or directory): nodes, MACs, BMC protocol and port.
	Inventory string
	// Dir holds guest disks, serial logs, QMP sockets, ipmi_sim files and the PID record.
	Dir string
	// NetNS is the namespace's name (default DefaultNetNS); Start creates it, Close removes it.
	NetNS string
	// Password is every BMC's password (the user is the inventory credential's, default admin).
	Password string
	// Extra are machines with BMCs that are not (yet) in the inventory, e.g. to add to the
	// inventory file while serve runs.
	Extra []Node
	// MemoryMB is each guest's memory (default DefaultMemory).
	MemoryMB int
	// Username is every BMC's user when the inventory names none (default admin).
	Username string
	// Switch breaks what nodes' switch ports say over LLDP (lldp.go), by node name.
	Switch map[string]SwitchKnobs
	// HostNICs is how many provisioning host NICs are cabled to br-prov (default 1:
	// HostNIC alone); more are HostNICName(1)... for several serve instances, each
	// answering on its own NIC and address as on its own host.
	HostNICs int
}

// HostNICName is the i-th provisioning host NIC: HostNIC, then prov1, prov2...
func HostNICName(i int) string {
	if i == 0 {
		return HostNIC
	}
	return fmt.Sprintf("prov%d", i)
}

// Node is one machine of the rack.
type Node struct {
	Name     string
	Protocol string // redfish (default) or ipmi
	Address  string // BMC address inside the namespace; default 127.0.0.1 (loopback only)
	BMCPort  int    // BMC port; default 443 (redfish) or 623 (ipmi)
	// PXEMAC is the first NIC (ens3, booting QEMU's iPXE ROM), on br-prov; StorageMAC,
	// optional, the second (ens4), on br-stor.
	PXEMAC, StorageMAC string
	// Extra is true for Config.Extra machines (not in the inventory when the rack started).
	Extra bool
}

// BMCURL is how the rack names the node's BMC: https://host:port or ipmi://host:port.
func (n Node) BMCURL() string {
	scheme := "https"
	if n.Protocol == "ipmi" {
		scheme = "ipmi"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(n.Address, fmt.Sprint(n.BMCPort)))
}

// MACs are the node's NICs in slot order: PXEMAC, then StorageMAC if set.
func (n Node) MACs() []string {
	if n.StorageMAC == "" {
		return []string{n.PXEMAC}
	}
	return []string{n.PXEMAC, n.StorageMAC}
}

// Rack is a running virtual rack.
type Rack struct {
	cfg    Config
	ns     *netns.NS
	nodes  []*node
	byName map[string]*node
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pids   *pidFile
	// gateways the storage switch answers as (gateway.go)
	gateways []*gateway
	lldpds   []*lldpd.Daemon // the switch ports' LLDP (lldp.go)

	closeOnce sync.Once
	closeErr  error
}

type node struct {
	Node
	dir     string
	disk    string
	osDisk  string
	taps    []string
	machine *redfish.QEMUMachine
	bmc     *redfish.BMC // redfish nodes
	sim     *ipmisim.Sim // ipmi nodes
}

// Start builds the rack: namespace, bridges, taps, disks and BMCs listening inside the
// namespace. Guests stay powered off. On error everything made so far is removed.
func Start(ctx context.Context, cfg Config) (*Rack, error) {
	if cfg.NetNS == "" {
		cfg.NetNS = DefaultNetNS
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = DefaultMemory
	}
	if cfg.Dir == "" {
		return nil, errors.New("rack: Config.Dir is required")
	}
	if cfg.Password == "" {
		return nil, errors.New("rack: no BMC password (racklift-lab reads it from " + inventory.EnvName("lab-bmc", "password") + ")")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	inv, err := loadInventory(cfg)
	if err != nil {
		return nil, err
	}
	nodes, user, err := nodesOf(cfg, inv)
	if err != nil {
		return nil, err
	}
	gws, err := gatewaysOf(inv)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		cfg.Username = user
	}
	if netns.Exists(cfg.NetNS) {
		return nil, fmt.Errorf("rack: namespace %s already exists: a rack is running or was left behind (racklift-lab down --netns %s --dir %s)", cfg.NetNS, cfg.NetNS, cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("rack: %w", err)
	}
	ns, err := netns.Create(cfg.NetNS)
	if err != nil {
		return nil, fmt.Errorf("rack: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Rack{cfg: cfg, ns: ns, byName: map[string]*node{}, ctx: rctx, cancel: cancel, gateways: gws,
		pids: &pidFile{path: filepath.Join(cfg.Dir, PIDFile)}}
	if err := r.pids.reset(cfg.NetNS); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.build(ctx, nodes); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.startLLDP(inv); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Rack) build(ctx context.Context, nodes []Node) error {
	for _, br := range []struct {
		name, uplink, far string
		mtu               int
	}{{ProvisioningBridge, HostNIC + "-sw", HostNIC, 0}, {StorageBridge, "uplink-stor", gatewayPort, storageMTU}} {
		l, err := r.ns.Bridge(br.name, br.mtu)
		if err != nil {
			return err
		}
		// The switch's uplink: a veth whose far end is up keeps the bridge's carrier on
		// while every guest is off (a bridge with only idle taps is NO-CARRIER, which
		// provision net apply rightly reports as an unplugged cable). On br-prov the far
		// end is the provisioning host's NIC; on br-stor the storage gateway's port.
		if _, err := r.ns.Veth(br.uplink, br.far, nil, br.mtu); err != nil {
			return err
		}
		up, err := r.ns.Link(br.uplink)
		if err != nil {
			return err
		}
		if err := r.ns.SetMaster(up, l); err != nil {
			return err
		}
	}
	if err := r.extraHostNICs(); err != nil {
		return err
	}
	for i, spec := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := &node{Node: spec, dir: filepath.Join(r.cfg.Dir, spec.Name)}
		if err := r.wire(n, i); err != nil {
			return err
		}
		r.nodes = append(r.nodes, n)
		r.byName[n.Name] = n
		var err error
		if n.Protocol == "ipmi" {
			err = r.startIPMI(ctx, n)
		} else {
			err = r.startRedfish(n)
		}
		if err != nil {
			return err
		}
	}
	// Ports joining lowered the trunk's MTU to theirs; the taps are jumbo now.
	if err := r.ns.SetMTU(StorageBridge, storageMTU); err != nil {
		return err
	}
	return r.startGateways()
}

// extraHostNICs cables HostNICName(1..HostNICs-1) to br-prov as HostNIC is.
func (r *Rack) extraHostNICs() error {
	prov, err := r.ns.Link(ProvisioningBridge)
	if err != nil {
		return err
	}
	for i := 1; i < r.cfg.HostNICs; i++ {
		name := HostNICName(i)
		if _, err := r.ns.Veth(name+"-sw", name, nil, 0); err != nil {
			return err
		}
		sw, err := r.ns.Link(name + "-sw")
		if err != nil {
			return err
		}
		if err := r.ns.SetMaster(sw, prov); err != nil {
			return err
		}
	}
	return nil
}

// wire makes the node's directory, disk and taps.
func (r *Rack) wire(n *node, index int) error {
	if err := os.RemoveAll(n.dir); err != nil {
		return fmt.Errorf("rack: node %s: %w", n.Name, err)
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return fmt.Errorf("rack: node %s: %w", n.Name, err)
	}
	n.disk = filepath.Join(n.dir, "disk.img")
	if err := makeDisk(n.disk, DiskSize); err != nil {
		return fmt.Errorf("rack: node %s: %w", n.Name, err)
	}
	n.osDisk = filepath.Join(n.dir, "os.img")
	if err := makeBlank(n.osDisk, OSDiskSize); err != nil {
		return fmt.Errorf("rack: node %s: %w", n.Name, err)
	}
	prov, err := r.ns.Link(ProvisioningBridge)
	if err != nil {
		return err
	}
	stor, err := r.ns.Link(StorageBridge)
	if err != nil {
		return err
	}
	for k := range n.MACs() {
		name := tapName(n.Name, index, k)
		br := prov
		if k > 0 {
			br = stor
		}
		if _, err := r.ns.Tap(name, br); err != nil {
			return fmt.Errorf("rack: node %s: %w", n.Name, err)
		}
		if k > 0 {
			if err := r.ns.SetMTU(name, storageMTU); err != nil {
				return fmt.Errorf("rack: node %s: %w", n.Name, err)
			}
		}
		n.taps = append(n.taps, name)
	}
	n.machine = redfish.NewQEMUMachine(func(target string) vm.Config { return r.guestConfig(n, target) })
	n.machine.GracefulWait = 5 * time.Second // the ramdisk has no ACPI daemon
	n.machine.Started = func(g *vm.VM) { r.pids.add(g.PID(), "qemu", n.Name) }
	return nil
}

// tapName is "tap-<node>-<k>" when it fits IFNAMSIZ, else "tap<index>-<k>".
func tapName(node string, index, k int) string {
	if n := fmt.Sprintf("tap-%s-%d", node, k); len(n) <= 15 {
		return n
	}
	return fmt.Sprintf("tap%d-%d", index, k)
}

// guestConfig is the QEMU guest a power-on or reset starts: Pxe boots QEMU's iPXE ROM
// on the first NIC; any other target boots the firmware's own order (the disk holds no
// boot loader, so SeaBIOS goes on to the NIC's ROM, as a freshly racked server would).
func (r *Rack) guestConfig(n *node, target string) vm.Config {
	c := vm.Config{Name: n.Name, Dir: n.dir, MemoryMB: r.cfg.MemoryMB, NetNS: r.ns.Name,
		Disk: n.disk, NetBoot: target == redfish.BootPxe}
	// The scratch disk is the guest's vda (the storage check's /scratch); the OS disk its
	// vdb, the only disk in the boot order, so it is BIOS drive 0x80 for the local-disk
	// iPXE script and the disk SeaBIOS boots after the NIC's iPXE exits.
	osd := vm.Disk{Path: n.osDisk, BootIndex: 2}
	macs := n.MACs()
	for k, tap := range n.taps {
		// Slots 3, 4: a guest with udev names them ens3, ens4 as the inventory does.
		nic := vm.NIC{Tap: tap, MAC: macs[k], Slot: 3 + k, NoROM: k > 0}
		if k == 0 && !c.NetBoot {
			// The OS disk, then the network: SeaBIOS runs the NIC's iPXE ROM (QEMU's
			// default for the model) only when the NIC is in the boot order.
			nic.BootIndex, osd.BootIndex = 2, 1
		}
		c.NICs = append(c.NICs, nic)
	}
	c.Disks = []vm.Disk{osd}
	return c
}

func (r *Rack) startRedfish(n *node) error {
	b := redfish.New(redfish.Config{
		Addr:     net.JoinHostPort(n.Address, fmt.Sprint(n.BMCPort)),
		Username: r.cfg.Username, Password: r.cfg.Password,
		Serial:  "RL-" + n.Name,
		Machine: n.machine,
	})
	if err := r.ns.Do(b.Start); err != nil {
		return fmt.Errorf("rack: node %s: BMC %s: %w", n.Name, n.BMCURL(), err)
	}
	n.bmc = b
	return nil
}

// NS is the rack's namespace.
func (r *Rack) NS() *netns.NS { return r.ns }

// Dir is the rack's work directory (absolute).
func (r *Rack) Dir() string { return r.cfg.Dir }

// Nodes lists the names of the rack's machines, inventory order then Extra.
func (r *Rack) Nodes() []string {
	out := make([]string, len(r.nodes))
	for i, n := range r.nodes {
		out[i] = n.Name
	}
	return out
}

// Redfish is a Redfish node's virtual BMC (faults, counters); nil for others.
func (r *Rack) Redfish(node string) *redfish.BMC {
	if n := r.byName[node]; n != nil {
		return n.bmc
	}
	return nil
}

// IPMI is an IPMI node's ipmi_sim (Ipmitool, Calls); nil for others.
func (r *Rack) IPMI(node string) *ipmisim.Sim {
	if n := r.byName[node]; n != nil {
		return n.sim
	}
	return nil
}

// Guest is the node's running QEMU guest (serial log, QMP), nil when powered off.
func (r *Rack) Guest(node string) *vm.VM {
	if n := r.byName[node]; n != nil {
		return n.machine.Guest()
	}
	return nil
}

// Taps are the node's tap devices in the rack's namespace, in NIC order (PXE first): a
// test can move one to another bridge, e.g. behind a relay.
func (r *Rack) Taps(node string) []string {
	if n := r.byName[node]; n != nil {
		return append([]string(nil), n.taps...)
	}
	return nil
}

// Boots lists the boot mode of every start and reset of the node's guest, oldest first
// ("Pxe", "Hdd", "default").
func (r *Rack) Boots(node string) []string {
	if n := r.byName[node]; n != nil {
		return n.machine.Boots()
	}
	return nil
}

// SerialLog is where the node's guest writes its console (rewritten at each QEMU start).
func (r *Rack) SerialLog(node string) string {
	return filepath.Join(r.cfg.Dir, node, node+".serial.log")
}

// PowerCycles counts the power-ons and resets the node's own BMC was asked for: the
// Redfish BMC's PowerOn, ForceRestart, GracefulRestart and PowerCycle counters, or the
// on and reset power changes ipmi_sim's chassis control made. -1 for an unknown node.
func (r *Rack) PowerCycles(node string) int {
	n := r.byName[node]
	switch {
	case n == nil:
		return -1
	case n.bmc != nil:
		c := n.bmc.Counts()
		return int(c.PowerOn + c.ForceRestart + c.GracefulRestart + c.PowerCycle)
	case n.sim != nil:
		k := 0
		for _, c := range n.sim.Calls() {
			if reason, _ := parseCall(c); reason == "on" || reason == "reset" {
				k++
			}
		}
		return k
	}
	return 0
}

// Close stops the guests, BMCs and ipmi_sim and deletes the namespace. Safe twice.
func (r *Rack) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		errs := r.stopLLDP()
		for _, n := range r.nodes {
			if n.bmc != nil {
				if err := n.bmc.Close(); err != nil {
					errs = append(errs, fmt.Errorf("node %s BMC: %w", n.Name, err))
				}
			}
			if n.sim != nil {
				n.sim.Close()
			}
			if n.machine != nil {
				n.machine.Close()
			}
		}
		if err := r.ns.Close(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			r.pids.remove()
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Node is the named machine of the rack.
func (r *Rack) Node(name string) (Node, bool) {
	if n := r.byName[name]; n != nil {
		return n.Node, true
	}
	return Node{}, false
}
