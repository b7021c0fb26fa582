package dhcp

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// Record is a MAC that asked for DHCP but is not in the inventory.
type Record struct {
	MAC         string    `json:"mac"`
	Arch        string    `json:"arch,omitempty"`
	VendorClass string    `json:"vendor_class,omitempty"`
	Client      string    `json:"client"`
	Interface   string    `json:"interface,omitempty"`
	Network     string    `json:"network,omitempty"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Count       int       `json:"count"`
}

// Discovered keeps the unknown MACs serve has seen, saved as JSON in its state dir so
// `provision discovered` can list them.
type Discovered struct {
	path string // "" keeps them in memory only

	mu      sync.Mutex
	byMAC   map[string]*Record
	written time.Time
}

// DiscoveredFile is the file name under serve's --state-dir.
const DiscoveredFile = "discovered.json"

// maxDiscovered bounds memory against a flood of random MACs.
const maxDiscovered = 4096

// OpenDiscovered loads dir/discovered.json (if any); dir "" keeps records in memory.
func OpenDiscovered(dir string) (*Discovered, error) {
	d := &Discovered{byMAC: map[string]*Record{}}
	if dir == "" {
		return d, nil
	}
	d.path = filepath.Join(dir, DiscoveredFile)
	recs, err := LoadDiscovered(dir)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		d.byMAC[r.MAC] = r
	}
	return d, nil
}

// LoadDiscovered reads the records serve saved in dir, oldest first.
func LoadDiscovered(dir string) ([]*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, DiscoveredFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*Record
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, DiscoveredFile), err)
	}
	return recs, nil
}

// Record notes a request from an unknown MAC; it returns the record, or nil when d is nil.
func (d *Discovered) Record(mac net.HardwareAddr, c Client, iface, network string) *Record {
	if d == nil {
		return nil
	}
	now := time.Now().UTC()
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.byMAC[mac.String()]
	isNew := r == nil
	if isNew {
		if len(d.byMAC) >= maxDiscovered {
			return nil
		}
		r = &Record{MAC: mac.String(), FirstSeen: now}
		d.byMAC[r.MAC] = r
	}
	r.LastSeen, r.Count = now, r.Count+1
	r.Client, r.VendorClass, r.Interface, r.Network = c.String(), c.VendorClass, iface, network
	if c.HasArch {
		r.Arch = fmt.Sprintf("%d (%s)", uint16(c.Arch), c.Arch)
	}
	// Write at once for a new MAC, at most every 10 s for repeats: a client retrying
	// DISCOVER must not turn into a disk write per packet.
	if d.path != "" && (isNew || now.Sub(d.written) > 10*time.Second) {
		d.written = now
		_ = d.saveLocked()
	}
	cp := *r
	return &cp
}

// List returns the records, oldest first.
func (d *Discovered) List() []*Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listLocked()
}

func (d *Discovered) listLocked() []*Record {
	out := make([]*Record, 0, len(d.byMAC))
	for _, r := range d.byMAC {
		cp := *r
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *Record) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.MAC, b.MAC)
	})
	return out
}

func (d *Discovered) saveLocked() error {
	b, err := json.MarshalIndent(d.listLocked(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(d.path, append(b, '\n'), 0o600)
}

// Flush writes the records now.
func (d *Discovered) Flush() error {
	if d == nil || d.path == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.saveLocked()
}

// Stanza is a ready-to-paste inventory node for a discovered MAC.
func (r *Record) Stanza() string {
	name := "node-" + strings.ReplaceAll(r.MAC, ":", "")
	network := r.Network
	if network == "" {
		network = "provisioning"
	}
	return fmt.Sprintf(`  - name: %s          # seen %s via %s; rename and set unit
    unit: 0
    interfaces:
      - name: eth0
        mac: "%s"
        network: %s
        pxe: true
`, name, r.FirstSeen.Format(time.RFC3339), orDash(r.Interface), r.MAC, network)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
