package redfish

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SiteNode is one node of a generated lab inventory.
type SiteNode struct {
	Name        string
	Protocol    string // redfish (default) or ipmi
	Host        string
	Port        int
	Protected   bool
	Maintenance bool
	// TLS overrides the site's policy for this BMC: "insecure", "ca:<file>" or
	// "fingerprint:<hex>"; empty keeps the site's.
	TLS string
}

// Site is a generated lab inventory: one site file and one rack holding every node.
type Site struct {
	Name       string
	Credential string // credentials reference name, default "lab-bmc"
	Username   string // default "admin"
	TLS        string // site policy, same forms as SiteNode.TLS
	Nodes      []SiteNode
}

// NodesFor returns one SiteNode per BMC of a fleet, named prefix-0001, ...
func NodesFor(prefix string, bmcs []*BMC) []SiteNode {
	out := make([]SiteNode, len(bmcs))
	for i, b := range bmcs {
		out[i] = SiteNode{Name: fmt.Sprintf("%s-%04d", prefix, i+1), Host: b.Host(), Port: b.Port()}
	}
	return out
}

// Write writes the inventory under dir (site.yaml and racks/lab.yaml). Interface
// addresses are data only (10.209.0.0/16): nothing is sent to them.
func (s Site) Write(dir string) error {
	if s.Credential == "" {
		s.Credential = "lab-bmc"
	}
	if s.Username == "" {
		s.Username = "admin"
	}
	if s.Name == "" {
		s.Name = "lab"
	}
	var site strings.Builder
	fmt.Fprintf(&site, "site: %s\n", s.Name)
	site.WriteString("defaults:\n  role: compute\n  profile: lab\n")
	fmt.Fprintf(&site, "  bmc:\n    credentials: %s\n", s.Credential)
	if t := tlsYAML(s.TLS, "  "); t != "" {
		site.WriteString("tls:\n" + t)
	}
	fmt.Fprintf(&site, "credentials:\n  - name: %s\n    username: %s\n", s.Credential, s.Username)
	site.WriteString(`networks:
  - name: provisioning
    cidr: 10.209.0.0/16
    server: 10.209.255.1
    role: provisioning
    dhcp:
      mode: reservation
profiles:
  - name: lab
    boot:
      kernel: lab/vmlinuz
      initrd: lab/initrd.img
`)
	if err := os.MkdirAll(filepath.Join(dir, "racks"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(site.String()), 0o644); err != nil {
		return err
	}
	// Racks of 40 nodes, one file each, as an operator would keep them.
	for r := 0; r*rackSize < len(s.Nodes) || r == 0; r++ {
		var rack strings.Builder
		fmt.Fprintf(&rack, "rack: lab-%02d\nunits: 42\nnodes:\n", r+1)
		for i := r * rackSize; i < len(s.Nodes) && i < (r+1)*rackSize; i++ {
			n := s.Nodes[i]
			proto := n.Protocol
			if proto == "" {
				proto = "redfish"
			}
			fmt.Fprintf(&rack, "  - name: %s\n    unit: %d\n", n.Name, i%rackSize+1)
			if n.Protected {
				rack.WriteString("    protected: true\n")
			}
			if n.Maintenance {
				rack.WriteString("    maintenance: true\n")
			}
			fmt.Fprintf(&rack, "    bmc:\n      address: %s\n      protocol: %s\n      port: %d\n", n.Host, proto, n.Port)
			if t := tlsYAML(n.TLS, "        "); t != "" {
				rack.WriteString("      tls:\n" + t)
			}
			fmt.Fprintf(&rack, "    interfaces:\n      - {name: ens3, mac: \"52:54:00:09:%02x:%02x\", network: provisioning, address: 10.209.%d.%d, pxe: true}\n",
				i/256, i%256, i/250, i%250+2)
		}
		name := filepath.Join(dir, "racks", fmt.Sprintf("lab-%02d.yaml", r+1))
		if err := os.WriteFile(name, []byte(rack.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

const rackSize = 40

func tlsYAML(policy, indent string) string {
	switch {
	case policy == "":
		return ""
	case policy == "insecure":
		return indent + "insecure: true\n"
	case strings.HasPrefix(policy, "ca:"):
		return indent + fmt.Sprintf("ca_file: %q\n", strings.TrimPrefix(policy, "ca:"))
	case strings.HasPrefix(policy, "fingerprint:"):
		return indent + fmt.Sprintf("fingerprint: %q\n", strings.TrimPrefix(policy, "fingerprint:"))
	}
	return ""
}
