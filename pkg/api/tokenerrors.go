package api

import "errors"

// The agent API's refusals of a token. The token store (provisioner.Tokens) wraps them;
// AgentHandler answers ErrOtherNode with 403 and the rest with 401.
var (
	ErrNoToken   = errors.New("no agent token")
	ErrBadToken  = errors.New("agent token is not valid")
	ErrOtherNode = errors.New("agent token belongs to another node")
	ErrExpired   = errors.New("agent token has expired")
)

// PublicTokenError is what a refused agent request is told. A token that is not valid
// gets the same words whether the node is being provisioned or not (serve's log has the
// reason), so probing names with made-up tokens says nothing about which nodes are
// being provisioned. The other refusals need a live token to reach or say only what the
// request lacked, and keep their hints.
func PublicTokenError(node string, err error) string {
	if errors.Is(err, ErrBadToken) {
		return ErrBadToken.Error() + " for node " + node + " (serve's log says why)"
	}
	return err.Error()
}
