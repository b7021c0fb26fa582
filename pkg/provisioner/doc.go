// Package provisioner is serve's provisioning core: it owns the state (pkg/state, bbolt),
// the lifecycle machine (pkg/lifecycle) and what it needs to act (BMC power through
// pkg/bmc, the CA through pkg/pki, the nodes' credentials: one-time bootstrap secrets
// and client certificates, see Credentials), and it listens for both
// APIs, whose handlers live in pkg/api: the agent API over TLS and the control API the
// CLI uses on a unix socket or loopback.
//
// pkg/server opens it with the serve's config, hands it every inventory it puts in force
// (SetInventory) and every boot event (Follow), and asks it for each node's kernel
// arguments when iPXE fetches a boot script (BootArgs). It is its own package so that the
// HTTP handlers, the wire types and the CLI's client (pkg/api) do not carry the server's
// store and lifecycle with them.
package provisioner
