package lifecycle

import (
	"testing"
)

// Tests for mutants gremlins left alive in machine.go (docs/dev/testing.md).

// TestSetTargetsEnrollsEveryNewNode: an inventory with several new nodes enrolls all
// of them, not the first only.
func TestSetTargetsEnrollsEveryNewNode(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	if err := r.m.SetTargets([]Target{tgt("a"), tgt("b"), tgt("c")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if n := r.node(name); Phase(n.Phase) != Enrolled {
			t.Errorf("%s: phase %q, want enrolled", name, n.Phase)
		}
	}
}

// TestNewFillsDefaults: a zero Config gets a logger (a machine logs a failed tick or an
// unrecorded BMC result), 3 attempts, a 90s BMC timeout and every phase's timeout.
func TestNewFillsDefaults(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	m := New(r.store, nil, nil, Config{})
	if m.cfg.Log == nil || m.cfg.Now == nil || m.cfg.MaxAttempts != 3 || m.cfg.BMCTimeout.Seconds() != 90 {
		t.Fatalf("defaults: log %v now %v attempts %d bmc %v", m.cfg.Log != nil, m.cfg.Now != nil, m.cfg.MaxAttempts, m.cfg.BMCTimeout)
	}
	m.cfg.Log.Error("a logger that works") // must not panic
	for p, d := range DefaultTimeouts {
		if m.cfg.Timeouts[p] != d {
			t.Errorf("timeout %s = %v, want the default %v", p, m.cfg.Timeouts[p], d)
		}
	}
}
