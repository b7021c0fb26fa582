// Package templates embeds the iPXE, install and systemd templates so the binaries carry
// them; `--templates DIR` on the commands that render them overrides the embedded copy.
package templates

import "embed"

// FS holds ipxe/, install/ and systemd/.
//
//go:embed ipxe install systemd
var FS embed.FS
