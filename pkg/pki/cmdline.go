package pki

// Kernel command line parameters that hand a node what it needs to get its identity
// (next to ipxe's racklift.server= and racklift.node=).
const (
	CmdlineBootstrap = "racklift.bootstrap" // the node's one-time bootstrap secret
	CmdlineCA        = "racklift.ca"        // sha256:<hex> of serve's CA, to pin
	CmdlineAPI       = "racklift.api"       // https://host:port of the agent API
)

// KernelArgs are the parameters a node's boot script adds to its command line. quiet
// keeps the kernel from printing its command line on the console (a serial-over-LAN
// log); the bootstrap is single-use and short-lived besides.
func KernelArgs(bootstrap, caFingerprint, apiURL string) []string {
	return []string{"quiet", CmdlineBootstrap + "=" + bootstrap, CmdlineCA + "=" + caFingerprint, CmdlineAPI + "=" + apiURL}
}
