package nodelock

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	protected := Node{Name: "gpu-a01-04", Protected: true}
	maint := Node{Name: "gpu-a02-01", Maintenance: true}
	tests := []struct {
		name   string
		node   Node
		action string
		force  bool
		want   string // "" means allowed
	}{
		{name: "unlocked", node: Node{Name: "n1"}, action: "power off"},
		{name: "forced", node: protected, action: "power off", force: true},
		{name: "up", node: protected, action: "up",
			want: "node gpu-a01-04 is protected (in use) and up would power-cycle it: add --force to do it anyway, or clear `protected: true` in the inventory"},
		{name: "power off", node: protected, action: "power off",
			want: "node gpu-a01-04 is protected (in use) and power off would turn it off: add --force to do it anyway, or clear `protected: true` in the inventory"},
		{name: "power soft", node: maint, action: "power soft",
			want: "node gpu-a02-01 is in maintenance and power soft would shut its OS down: add --force to do it anyway, or clear `maintenance: true` in the inventory"},
		{name: "power cycle", node: maint, action: "power cycle",
			want: "node gpu-a02-01 is in maintenance and power cycle would power-cycle it: add --force to do it anyway, or clear `maintenance: true` in the inventory"},
		{name: "power reset", node: protected, action: "power reset",
			want: "node gpu-a01-04 is protected (in use) and power reset would reset it: add --force to do it anyway, or clear `protected: true` in the inventory"},
		{name: "boot pxe", node: protected, action: "boot pxe",
			want: "node gpu-a01-04 is protected (in use) and boot pxe would make it boot from the network the next time it starts: add --force to do it anyway, or clear `protected: true` in the inventory"},
		{name: "boot bios", node: maint, action: "boot bios",
			want: "node gpu-a02-01 is in maintenance and boot bios would make it start in its firmware setup the next time it starts: add --force to do it anyway, or clear `maintenance: true` in the inventory"},
		{name: "both locks", node: Node{Name: "n2", Protected: true, Maintenance: true}, action: "up",
			want: "node n2 is protected (in use) and in maintenance and up would power-cycle it: add --force to do it anyway, or clear `protected: true` and `maintenance: true` in the inventory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.node, tc.action, tc.force)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Check =\n  %v\nwant\n  %s", err, tc.want)
			}
			if !errors.Is(err, ErrLocked) {
				t.Error("the refusal is not ErrLocked")
			}
		})
	}
}
