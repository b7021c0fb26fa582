package plan

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// ExpectationsFor builds a node's expectations from the inventory, what serve sends its
// agent: its effective profile (overrides applied) and its networks as NodeNetworks
// derives them (interface, MAC, address, VLAN, MTU, gateway, peers), kept to the networks
// the profile names when it names any. A named network the node has no interface on is
// still listed, so the network check reports it missing rather than nobody noticing.
func ExpectationsFor(inv *inventory.Inventory, name string) (*expect.Expectations, error) {
	n := inv.Node(name)
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the inventory", name)
	}
	if n.Spec == nil {
		return nil, fmt.Errorf("node %s: profile %q is not defined", name, n.Profile)
	}
	x := n.Spec.Expect
	e := &expect.Expectations{Node: n.Name, Storage: slices.Clone(x.Storage)}
	if x.GPU != nil {
		g := *x.GPU
		e.GPU = &g
	}
	if im := n.Spec.Image; im != nil {
		u, err := imageURL(inv, n, im.File)
		if err != nil {
			return nil, err
		}
		e.Deploy = &expect.Deploy{Image: imageName(im.File), URL: u, SHA256: im.SHA256, Size: im.Size,
			RootDevice: im.RootDevice, Hostname: n.Name, Login: inv.LoginFor(n)}
	}
	nets, err := NodeNetworks(inv, n)
	if err != nil {
		return nil, err
	}
	if len(x.Networks) == 0 {
		e.Networks = nets
		return e, nil
	}
	for _, want := range x.Networks {
		found := false
		for _, nw := range nets {
			if nw.Name == want {
				e.Networks, found = append(e.Networks, nw), true
			}
		}
		if !found {
			nw := inv.Network(want)
			if nw == nil {
				return nil, fmt.Errorf("node %s: network %q is not defined", name, want)
			}
			e.Networks = append(e.Networks, expect.Network{Name: nw.Name, Role: nw.Role, VLAN: nw.VLAN, MTU: nw.MTU, Gateway: nw.Gateway})
		}
	}
	return e, nil
}

// imageURL is where the node's agent fetches its profile's image: a URL as written, a
// path from serve's artifacts (/artifacts/PATH) at the server address of the node's
// PXE network on DefaultHTTPPort (give a URL for another port).
func imageURL(inv *inventory.Inventory, n *inventory.Node, file string) (string, error) {
	if strings.Contains(file, "://") {
		return file, nil
	}
	ifc := n.PXEInterface()
	if ifc == nil {
		return "", fmt.Errorf("node %s: its image %s is served by serve, but it has no PXE interface to reach serve on", n.Name, file)
	}
	nw := inv.Network(ifc.Network)
	if nw == nil || nw.Server == "" {
		return "", fmt.Errorf("node %s: network %q of its PXE interface has no server address to fetch image %s from", n.Name, ifc.Network, file)
	}
	a, err := netip.ParseAddr(nw.Server)
	if err != nil {
		return "", fmt.Errorf("network %q: server %q is not an IP address", nw.Name, nw.Server)
	}
	u := url.URL{Scheme: "http", Host: netip.AddrPortFrom(a.Unmap(), DefaultHTTPPort).String(), Path: path.Join("/artifacts", path.Clean("/"+file))}
	return u.String(), nil
}

// imageName is the image's name for reports: its file name without the extensions.
func imageName(file string) string {
	if u, err := url.Parse(file); err == nil && u.Path != "" {
		file = u.Path
	}
	b := path.Base(file)
	for _, ext := range []string{".gz", ".zst", ".zstd", ".raw", ".img"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}
