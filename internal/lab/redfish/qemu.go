package redfish

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/racklift/racklift/internal/lab/vm"
)

// QEMUMachine is a QEMU guest behind a virtual BMC: power on starts it, power off stops
// it (asking through ACPI first when graceful), reset resets it through QMP. The boot
// target picks how it starts: Config gets the target and returns the guest to run,
// e.g. NetBoot for Pxe and the disk for Hdd. A reset to a different target restarts
// QEMU, since its boot order is fixed when it starts.
type QEMUMachine struct {
	// Config returns the guest for a boot target ("" or None: the guest's own order).
	Config func(target string) vm.Config
	// GracefulWait is how long a graceful power-off waits for the guest to power
	// itself off before pulling the power; default 30 s.
	GracefulWait time.Duration
	// Started, when set, is told of every QEMU it starts (e.g. to record its PID).
	Started func(*vm.VM)

	mu     sync.Mutex
	guest  *vm.VM
	mode   string // boot mode of the running guest
	ctx    context.Context
	cancel context.CancelFunc
	boots  []string
}

// NewQEMUMachine returns a powered-off machine that runs cfg(target) when powered on.
func NewQEMUMachine(cfg func(target string) vm.Config) *QEMUMachine {
	ctx, cancel := context.WithCancel(context.Background())
	return &QEMUMachine{Config: cfg, ctx: ctx, cancel: cancel}
}

func (m *QEMUMachine) running() bool {
	if m.guest == nil {
		return false
	}
	select {
	case <-m.guest.Done():
		return false // the guest powered itself off, or QEMU died
	default:
		return true
	}
}

func (m *QEMUMachine) On(context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running(), nil
}

func (m *QEMUMachine) PowerOn(_ context.Context, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running() {
		return nil
	}
	return m.start(target)
}

// start runs QEMU under the machine's own lifetime, not a request's.
func (m *QEMUMachine) start(target string) error {
	cfg := m.Config(target)
	cfg.AllowReboot = true // a reset reboots, like hardware
	g, err := vm.Start(m.ctx, cfg)
	if err != nil {
		return fmt.Errorf("starting the guest: %w", err)
	}
	m.guest, m.mode = g, bootName(target)
	m.boots = append(m.boots, m.mode)
	if m.Started != nil {
		m.Started(g)
	}
	return nil
}

func (m *QEMUMachine) PowerOff(_ context.Context, graceful bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running() {
		m.guest = nil
		return nil
	}
	if graceful {
		wait := m.GracefulWait
		if wait == 0 {
			wait = 30 * time.Second
		}
		if q, err := m.guest.QMP(); err == nil && q.PowerDown() == nil {
			_ = m.guest.Wait(wait)
		}
	}
	m.guest.Stop()
	m.guest = nil
	return nil
}

func (m *QEMUMachine) Reset(_ context.Context, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running() {
		return m.start(target)
	}
	if bootName(target) != m.mode {
		m.guest.Stop()
		return m.start(target)
	}
	q, err := m.guest.QMP()
	if err != nil {
		return err
	}
	if err := q.Reset(); err != nil {
		return fmt.Errorf("qmp system_reset: %w", err)
	}
	m.boots = append(m.boots, m.mode)
	return nil
}

// Guest is the running QEMU guest, nil when off.
func (m *QEMUMachine) Guest() *vm.VM {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running() {
		return nil
	}
	return m.guest
}

// Boots lists the boot mode of every start and reset, oldest first.
func (m *QEMUMachine) Boots() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.boots...)
}

// Close stops the guest for good.
func (m *QEMUMachine) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.guest != nil {
		m.guest.Stop()
		m.guest = nil
	}
	m.cancel()
}
