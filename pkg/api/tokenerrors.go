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
)
