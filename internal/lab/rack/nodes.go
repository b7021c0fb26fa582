package rack

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/racklift/racklift/pkg/inventory"
)

// loadInventory reads the lab inventory.
func loadInventory(cfg Config) (*inventory.Inventory, error) {
	if cfg.Inventory == "" {
		return nil, fmt.Errorf("rack: Config.Inventory is required (e.g. inventory/examples/lab)")
	}
	inv, err := inventory.Load(cfg.Inventory)
	if err != nil {
		return nil, fmt.Errorf("rack: inventory %s: %w", cfg.Inventory, err)
	}
	return inv, nil
}

// nodesOf reads the inventory's nodes (PXE interface first) and appends cfg.Extra; it
// also returns the BMC user of the inventory's credential.
func nodesOf(cfg Config, inv *inventory.Inventory) ([]Node, string, error) {
	user := "admin"
	var nodes []Node
	for _, in := range inv.Nodes {
		n := Node{Name: in.Name, Protocol: in.BMC.Protocol, Address: in.BMC.Address, BMCPort: in.BMC.Port}
		if c := inv.Credential(in.BMC.Credentials); c != nil && c.Username != "" {
			user = c.Username
		}
		pxe := in.PXEInterface()
		if pxe == nil {
			return nil, "", fmt.Errorf("rack: node %s (%s): no PXE interface: the virtual rack boots every node from the network", in.Name, cfg.Inventory)
		}
		n.PXEMAC = pxe.MAC
		for _, i := range in.Interfaces {
			switch {
			case i == pxe:
			case n.StorageMAC == "":
				n.StorageMAC = i.MAC
			default:
				return nil, "", fmt.Errorf("rack: node %s (%s): interface %s: the virtual rack cables two NICs per node (ens3 provisioning, ens4 storage)", in.Name, cfg.Inventory, i.Name)
			}
		}
		nodes = append(nodes, n)
	}
	for _, e := range cfg.Extra {
		e.Extra = true
		nodes = append(nodes, e)
	}
	seen, names := map[string]string{}, map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		if n.Protocol == "" {
			n.Protocol = "redfish"
		}
		if n.Protocol != "redfish" && n.Protocol != "ipmi" {
			return nil, "", fmt.Errorf("rack: node %s: BMC protocol %q: the virtual rack has redfish and ipmi BMCs", n.Name, n.Protocol)
		}
		if n.Address == "" {
			n.Address = "127.0.0.1"
		}
		if ip := net.ParseIP(n.Address); ip == nil || !ip.IsLoopback() {
			return nil, "", fmt.Errorf("rack: node %s: BMC address %s is not a loopback address: virtual BMCs listen on loopback inside the rack's namespace", n.Name, n.Address)
		}
		if n.BMCPort == 0 {
			n.BMCPort = inventory.DefaultPort(n.Protocol)
		}
		if n.PXEMAC == "" {
			return nil, "", fmt.Errorf("rack: node %s: no PXE MAC address", n.Name)
		}
		for _, m := range n.MACs() {
			if _, err := net.ParseMAC(m); err != nil {
				return nil, "", fmt.Errorf("rack: node %s: MAC %q: %w", n.Name, m, err)
			}
		}
		key := n.Protocol + " " + net.JoinHostPort(n.Address, fmt.Sprint(n.BMCPort))
		if other, dup := seen[key]; dup {
			return nil, "", fmt.Errorf("rack: nodes %s and %s: both BMCs on %s", other, n.Name, n.BMCURL())
		}
		if names[n.Name] {
			return nil, "", fmt.Errorf("rack: node %s is there twice", n.Name)
		}
		seen[key], names[n.Name] = n.Name, true
	}
	return nodes, user, nil
}

// makeBlank writes a sparse raw image of size bytes, all zeros: a new server's empty disk.
func makeBlank(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makeDisk writes a sparse raw image formatted ext4, labelled "scratch" (the guest
// mounts it by label for its storage checks); mkfs.ext4 needs no root for a file.
func makeDisk(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		mkfs = "/usr/sbin/mkfs.ext4"
		if _, serr := os.Stat(mkfs); serr != nil {
			return fmt.Errorf("mkfs.ext4 is not installed (apt-get install e2fsprogs)")
		}
	}
	out, err := exec.Command(mkfs, "-F", "-q", "-L", "scratch", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}
