package provisioner

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
)

// BootArgs are the kernel arguments for node's network boot, asked for by MAC (from
// reserved, its reserved address in reservation mode): its one-time bootstrap secret,
// the CA fingerprint to pin and the agent API. None for a node no `up` is provisioning
// (it boots its profile without a credential); an error means the node must not
// network-boot now (serve the local-disk script and say why).
func (c *Core) BootArgs(node, mac string, reserved netip.Addr) ([]string, error) {
	if c.agentURL == "" {
		return nil, errors.New("serve runs no agent API")
	}
	// The script request itself shows the node is network-booting: record it first, so a
	// node whose BMC has not answered yet (or whose DHCP event is still queued) enters pxe
	// and gets its token now rather than the local-disk script.
	if _, err := c.Machine.Handle(lifecycle.Event{Node: node, Kind: lifecycle.BootScript, Detail: "boot script for MAC " + mac}); err != nil {
		return nil, err
	}
	tok, err := c.Tokens.ForBoot(node, mac, reserved)
	if errors.Is(err, api.ErrNoToken) {
		// Network-booted by hand, not by `up`, or again after its bootstrap was used: it
		// boots its profile as before, but its agent gets no credential, so its reports
		// are refused until `provision up NODE`.
		c.log.Info("node network-boots without a live bootstrap: its boot script carries no credential", "node", node, "mac", mac, "why", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pki.KernelArgs(tok, c.PKI.Fingerprint(), c.agentURL), nil
}

// BootEvent maps a boot-service event onto the lifecycle's. A failed transfer, the
// local-disk script, or an event without a node is recorded but moves nothing.
func BootEvent(e events.Event) (lifecycle.Event, bool) {
	if e.Node == "" {
		return lifecycle.Event{}, false
	}
	k := string(e.Kind)
	switch {
	case e.Kind == events.HTTPArtifact:
		k = string(lifecycle.HTTPKernel) // kernel or initrd: the node is loading its OS
	case e.Kind == events.HTTPArtifactStart:
		k = string(lifecycle.HTTPFetch)
	case e.Kind == events.HTTPScript && e.Detail == "local":
		k = "http.script.local"
	}
	detail := e.Detail
	if e.IP != "" {
		detail = strings.TrimSpace(detail + " from " + e.IP)
	}
	if e.Err != "" {
		k += ".error"
		detail += ": " + e.Err
	}
	return lifecycle.Event{Node: e.Node, Kind: lifecycle.Kind(k), Time: e.Time, Detail: detail}, true
}

// Handle feeds one boot event to the lifecycle.
func (c *Core) Handle(e events.Event) {
	le, ok := BootEvent(e)
	if !ok {
		return
	}
	if _, err := c.Machine.Handle(le); err != nil {
		c.log.Error("recording boot event", "node", e.Node, "kind", e.Kind, "err", err)
	}
}

// followBuffer is large so a burst (a rack DHCPing at once) is not dropped by the stream.
const followBuffer = 65536

// Follow feeds the stream's events to the lifecycle until ctx ends.
func (c *Core) Follow(ctx context.Context, s *events.Stream) {
	for e := range s.Subscribe(ctx, followBuffer) {
		c.Handle(e)
	}
}
