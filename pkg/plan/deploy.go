package plan

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// deployFor is what n's agent puts on its disk: the effective profile's image with the
// URL it streams from (a path is served by serve's HTTP from its artifacts, on the
// node's PXE network at DefaultHTTPPort; give a URL for another port), its sha256 and
// root device hints. nil: the profile has no image. Reprovision is left false: the core
// sets it per run.
func deployFor(inv *inventory.Inventory, n *inventory.Node) (*expect.Deploy, error) {
	if n.Spec == nil || n.Spec.Image == nil {
		return nil, nil
	}
	im := n.Spec.Image
	d := &expect.Deploy{Image: imageName(im.File), URL: im.File, SHA256: strings.ToLower(im.SHA256), Size: im.Size, RootDevice: im.RootDevice, Hostname: n.Name}
	if strings.Contains(im.File, "://") {
		return d, nil
	}
	ifc := n.PXEInterface()
	if ifc == nil {
		return nil, fmt.Errorf("node %s: image %s is served from the artifacts but the node has no PXE interface to fetch it on", n.Name, im.File)
	}
	nw := inv.Network(ifc.Network)
	if nw == nil || nw.Server == "" {
		return nil, fmt.Errorf("node %s: image %s is served from the artifacts but network %q has no server address", n.Name, im.File, ifc.Network)
	}
	srv, err := netip.ParseAddr(nw.Server)
	if err != nil {
		return nil, fmt.Errorf("node %s: network %q: server %q is not an IP address", n.Name, nw.Name, nw.Server)
	}
	u := url.URL{Scheme: "http", Host: netip.AddrPortFrom(srv.Unmap(), DefaultHTTPPort).String(), Path: path.Join("/artifacts", path.Clean("/"+im.File))}
	d.URL = u.String()
	return d, nil
}

// imageName is the image's name for reports and reasons: its file name.
func imageName(file string) string {
	if u, err := url.Parse(file); err == nil && u.Path != "" {
		file = u.Path
	}
	return path.Base(file)
}
