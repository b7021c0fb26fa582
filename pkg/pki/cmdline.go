package pki

// Kernel command line parameters that hand a node its credentials (next to ipxe's
// racklift.server= and racklift.node=).
const (
	CmdlineToken = "racklift.token" // the node's agent token
	CmdlineCA    = "racklift.ca"    // sha256:<hex> of serve's CA, to pin
	CmdlineAPI   = "racklift.api"   // https://host:port of the agent API
)

// KernelArgs are the parameters a node's boot script adds to its command line.
func KernelArgs(token, caFingerprint, apiURL string) []string {
	return []string{CmdlineToken + "=" + token, CmdlineCA + "=" + caFingerprint, CmdlineAPI + "=" + apiURL}
}
