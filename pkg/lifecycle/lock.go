package lifecycle

import (
	"errors"
	"fmt"
)

// ErrLocked is wrapped by every refusal to touch a protected or maintenance node.
var ErrLocked = errors.New("node is locked against power actions")

// Target is what the machine needs to know about a node from the inventory and plan.
type Target struct {
	Name        string
	MAC         string // PXE MAC: the agent token is handed only to it
	BMC         string // how failure reasons name the BMC, e.g. "redfish https://10.0.0.11"
	Protected   bool   // in use: power actions need --force
	Maintenance bool   // locked for work: power actions need --force
}

// CheckLock refuses a power action on a protected or maintenance node unless forced. The
// error names the node and the way out.
func CheckLock(t Target, action string, force bool) error {
	if force {
		return nil
	}
	why := ""
	switch {
	case t.Protected:
		why = "protected (in use)"
	case t.Maintenance:
		why = "in maintenance"
	default:
		return nil
	}
	return fmt.Errorf("%w: node %s is %s and %s would power-cycle it: add --force to do it anyway, or clear `%s` in the inventory",
		ErrLocked, t.Name, why, action, lockField(t))
}

func lockField(t Target) string {
	if t.Protected {
		return "protected: true"
	}
	return "maintenance: true"
}
