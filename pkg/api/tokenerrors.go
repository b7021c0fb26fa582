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
