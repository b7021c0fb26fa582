package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// DeployFor is what n's agent puts on its disk: the effective profile's image with the
// URL it streams from (an artifact is served by serve's HTTP on the node's PXE network,
// port opt.HTTPPort), its sha256 and root device hints. nil: the profile has no image.
// Reprovision is left false: only `up --reprovision` sets it, per run.
func DeployFor(inv *inventory.Inventory, n *inventory.Node, opt Options) (*expect.Deploy, error) {
	if n.Spec == nil || n.Spec.Image == nil {
		return nil, nil
	}
	im := n.Spec.Image
	d := &expect.Deploy{Image: im.Name(), URL: im.URL, SHA256: strings.ToLower(im.SHA256), RootDevice: im.RootDevice, Hostname: n.Name}
	if im.Artifact == "" {
		return d, nil
	}
	ifc := n.PXEInterface()
	if ifc == nil {
		return nil, fmt.Errorf("node %s: image %s is an artifact but the node has no PXE interface to fetch it on", n.Name, im.Artifact)
	}
	nw := inv.Network(ifc.Network)
	if nw == nil || nw.Server == "" {
		return nil, fmt.Errorf("node %s: image %s is an artifact but network %q has no server address to serve it from", n.Name, im.Artifact, ifc.Network)
	}
	srv, err := netip.ParseAddr(nw.Server)
	if err != nil {
		return nil, fmt.Errorf("node %s: network %q: server %q is not an IP address", n.Name, nw.Name, nw.Server)
	}
	port := opt.HTTPPort
	if port == 0 {
		port = DefaultHTTPPort
	}
	d.URL = "http://" + netip.AddrPortFrom(srv.Unmap(), uint16(port)).String() + "/artifacts/" + strings.TrimPrefix(im.Artifact, "/")
	return d, nil
}
