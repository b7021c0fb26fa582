// Package nodelock is the one policy for touching a locked node: a node marked
// `protected` (in use) or `maintenance` in the inventory is never powered off, reset,
// rebooted to the network or provisioned without --force. It is a leaf (no racklift
// imports) so the lifecycle (provision up) and the BMC fan-outs (power, boot, bmc) ask
// the same question and refuse in the same words, and pkg/bmc does not link the state
// store to ask it.
package nodelock

import (
	"errors"
	"fmt"
)

// ErrLocked is wrapped by every refusal to touch a protected or maintenance node.
var ErrLocked = errors.New("node is locked against power actions")

// Node is what the policy looks at: the node's name and its two locks.
type Node struct {
	Name        string
	Protected   bool // in use: power actions need --force
	Maintenance bool // locked for work: power actions need --force
}

// Check refuses action on a protected or maintenance node unless forced: the one
// policy for every path that could interrupt a node (provision up, power, the BMC
// fan-outs). The error names the node, why it is locked, what action would do to it and
// the way out; errors.Is(err, ErrLocked) holds.
func Check(n Node, action string, force bool) error {
	if force || (!n.Protected && !n.Maintenance) {
		return nil
	}
	why, field := "protected (in use)", "`protected: true`"
	switch {
	case n.Protected && n.Maintenance:
		why, field = "protected (in use) and in maintenance", "`protected: true` and `maintenance: true`"
	case n.Maintenance:
		why, field = "in maintenance", "`maintenance: true`"
	}
	return &lockedError{fmt.Sprintf("node %s is %s and %s would %s: add --force to do it anyway, or clear %s in the inventory",
		n.Name, why, action, effect(action), field)}
}

// effect says what an action does to a running node, in the refusal's words.
func effect(action string) string {
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
	case "network boot":
		return "hand it its profile's network boot (an installer)"
	}
	return "interrupt it"
}

type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }
