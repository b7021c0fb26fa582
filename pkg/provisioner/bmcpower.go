package provisioner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// BMCPower is lifecycle.Power over pkg/bmc: a one-time PXE boot override, then at once
// a power cycle, or power on when the node is off.
type BMCPower struct {
	Inventory func() *inventory.Inventory
	Secrets   *inventory.Secrets
	Options   bmc.Options

	mu sync.Mutex // inventory.Secrets loads its file lazily: not safe for concurrent use
}

// PXECycle implements lifecycle.Power.
func (p *BMCPower) PXECycle(ctx context.Context, t lifecycle.Target) error {
	return p.bootAndCycle(ctx, t, bmc.BootPXE)
}

// bootAndCycle sets a one-time boot override to device and power-cycles the node (power
// on when it is off).
func (p *BMCPower) bootAndCycle(ctx context.Context, t lifecycle.Target, device string) error {
	inv := p.Inventory()
	if inv == nil {
		return errors.New("no inventory loaded")
	}
	n := inv.Node(t.Name)
	if n == nil {
		return fmt.Errorf("node %s is not in the inventory", t.Name)
	}
	secrets := p.Secrets
	if secrets == nil {
		secrets = &inventory.Secrets{}
	}
	p.mu.Lock()
	bt, err := bmc.TargetFor(inv, n, secrets)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	o := p.Options
	if dl, ok := ctx.Deadline(); ok {
		o.Timeout = max(0, time.Until(dl))
	}
	st, err := bmc.Do(ctx, bt, bmc.Op{Power: bmc.PowerStatus}, o)
	if err != nil {
		return err
	}
	action := bmc.PowerCycle
	if st.Power == "off" {
		action = bmc.PowerOn
	}
	// The override and the power action in one session, one right after the other:
	// IPMI BMCs forget an override that no reset follows within 60 s. The error is a
	// *bmc.Error whose Kind (not-applied, boot-dropped, ...) says what happened.
	_, err = bmc.Do(ctx, bt, bmc.Op{Boot: &bmc.Boot{Device: device}, Power: action}, o)
	return err
}
