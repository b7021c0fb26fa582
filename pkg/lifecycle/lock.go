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

// CheckLock refuses action on a protected or maintenance node unless forced: the one
// policy for every path that could interrupt a node (provision up, power, the BMC
// fan-outs). The error names the node, why it is locked, what action would do to it and
// the way out; errors.Is(err, ErrLocked) holds.
func CheckLock(t Target, action string, force bool) error {
	if force || (!t.Protected && !t.Maintenance) {
		return nil
	}
	why, field := "protected (in use)", "`protected: true`"
	switch {
	case t.Protected && t.Maintenance:
		why, field = "protected (in use) and in maintenance", "`protected: true` and `maintenance: true`"
	case t.Maintenance:
		why, field = "in maintenance", "`maintenance: true`"
	}
	return &lockedError{fmt.Sprintf("node %s is %s and %s would %s: add --force to do it anyway, or clear %s in the inventory",
		t.Name, why, action, lockEffect(action), field)}
}

// lockEffect says what an action does to a running node, in the refusal's words.
func lockEffect(action string) string {
	switch action {
	case "up", "power cycle":
		return "power-cycle it"
	case "power off":
		return "turn it off"
	case "power soft":
		return "shut its OS down"
	case "power reset":
		return "reset it"
	case "boot pxe":
		return "make it boot from the network the next time it starts"
	case "boot bios":
		return "make it start in its firmware setup the next time it starts"
	}
	return "interrupt it"
}

type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }
