package api

import "errors"

// The agent API's refusals of a node credential (a bootstrap secret or a client
// certificate). The credential store (provisioner.Credentials) wraps them;
// AgentHandler answers ErrOtherNode with 403, ErrSuperseded with 409 and the rest with
// 401. A refused request changes nothing.
var (
	ErrNoToken    = errors.New("no node credential")
	ErrBadToken   = errors.New("node credential is not valid")
	ErrOtherNode  = errors.New("node credential belongs to another node")
	ErrExpired    = errors.New("node credential has expired")
	ErrReplayed   = errors.New("bootstrap secret was already used")
	ErrRevoked    = errors.New("node certificate was revoked")
	ErrSuperseded = errors.New("node certificate was superseded")
	// ErrBadRequest is a malformed certificate request: 400, not a refusal.
	ErrBadRequest = errors.New("bad certificate request")
)

// PublicTokenError is what a refused agent request is told. A bootstrap that is not valid
// gets the same words whether the node is being provisioned or not, and whatever the
// reason (serve's log has it), so probing names with made-up secrets says nothing about
// which nodes are being provisioned. The other refusals need a live credential to reach
// or say only what the request lacked, and keep their hints.
func PublicTokenError(node string, err error) string {
	if errors.Is(err, ErrBadToken) {
		return ErrBadToken.Error() + " for node " + node + " (serve's log says why)"
	}
	return err.Error()
}
