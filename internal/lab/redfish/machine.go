package redfish

import (
	"context"
	"sync"
)

// Boot targets a machine can be started from, as Redfish names them.
const (
	BootNone = "None"
	BootPxe  = "Pxe"
	BootHdd  = "Hdd"
	BootBios = "BiosSetup"
)

// Machine is the server behind a virtual BMC. The BMC keeps the Redfish view (boot
// override, sessions, faults); the machine only powers and boots. It is small so a
// QEMU guest driven over QMP can stand in for the in-memory one.
type Machine interface {
	// On reports whether the machine has power.
	On(ctx context.Context) (bool, error)
	// PowerOn starts the machine booting from target ("" or BootNone: its own order).
	PowerOn(ctx context.Context, target string) error
	// PowerOff removes power; graceful asks the OS to shut down first.
	PowerOff(ctx context.Context, graceful bool) error
	// Reset restarts a running machine booting from target, without a power-off.
	Reset(ctx context.Context, target string) error
}

// MemMachine is an in-memory machine: power state plus the targets it booted from.
type MemMachine struct {
	mu    sync.Mutex
	on    bool
	boots []string
}

// NewMemMachine returns a machine that is powered off.
func NewMemMachine() *MemMachine { return &MemMachine{} }

func (m *MemMachine) On(context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on, nil
}

func (m *MemMachine) PowerOn(_ context.Context, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		m.on = true
		m.boots = append(m.boots, bootName(target))
	}
	return nil
}

func (m *MemMachine) PowerOff(context.Context, bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on = false
	return nil
}

func (m *MemMachine) Reset(_ context.Context, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on = true
	m.boots = append(m.boots, bootName(target))
	return nil
}

// Boots lists the target of every boot so far, oldest first ("default" for no override).
func (m *MemMachine) Boots() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.boots...)
}

// LastBoot is the target of the latest boot, "" if it never booted.
func (m *MemMachine) LastBoot() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.boots) == 0 {
		return ""
	}
	return m.boots[len(m.boots)-1]
}

func bootName(target string) string {
	if target == "" || target == BootNone {
		return "default"
	}
	return target
}
