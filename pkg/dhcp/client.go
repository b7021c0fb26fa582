package dhcp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	netsanitize "github.com/racklift/racklift/pkg/sanitize"
)

// Client is what a DHCP request says about the firmware asking.
type Client struct {
	Arch        iana.Arch `json:"arch"`
	HasArch     bool      `json:"has_arch"`
	VendorClass string    `json:"vendor_class,omitempty"` // option 60
	PXE         bool      `json:"pxe"`                    // vendor class PXEClient
	HTTPClient  bool      `json:"http_client"`            // vendor class HTTPClient (UEFI HTTP boot)
	IPXE        bool      `json:"ipxe"`                   // user class iPXE or option 175
}

// optionIPXE is iPXE's encapsulated option space (175); iPXE always sends it.
const optionIPXE = 175

// Classify reads option 60, 77, 93 and 175.
func Classify(m *dhcpv4.DHCPv4) Client {
	// Option 60 is the client's own text: capped and escaped before it is recorded
	// (discovered.json) or printed.
	c := Client{VendorClass: netsanitize.Text(m.ClassIdentifier(), netsanitize.Hostname)}
	c.PXE = strings.HasPrefix(c.VendorClass, "PXEClient")
	c.HTTPClient = strings.HasPrefix(c.VendorClass, "HTTPClient")
	if archs := m.ClientArch(); len(archs) > 0 {
		c.Arch, c.HasArch = archs[0], true
	} else if a, ok := archFromVendorClass(c.VendorClass); ok {
		c.Arch, c.HasArch = a, true
	}
	if m.Options.Has(dhcpv4.GenericOptionCode(optionIPXE)) {
		c.IPXE = true
	}
	if uc := m.Options.Get(dhcpv4.OptionUserClassInformation); bytes.Contains(uc, []byte("iPXE")) {
		c.IPXE = true
	}
	return c
}

// archFromVendorClass reads "PXEClient:Arch:00007:UNDI:003016".
func archFromVendorClass(vc string) (iana.Arch, bool) {
	parts := strings.Split(vc, ":")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "Arch" {
			n, err := strconv.ParseUint(parts[i+1], 10, 16)
			if err != nil {
				return 0, false
			}
			return iana.Arch(n), true
		}
	}
	return 0, false
}

// String is a short description for logs and discovered records.
func (c Client) String() string {
	var parts []string
	if c.HasArch {
		parts = append(parts, fmt.Sprintf("arch %d (%s)", uint16(c.Arch), c.Arch))
	}
	if c.VendorClass != "" {
		parts = append(parts, "vendor class "+strconv.Quote(c.VendorClass))
	}
	if c.IPXE {
		parts = append(parts, "iPXE")
	}
	if len(parts) == 0 {
		return "no PXE options (an OS DHCP client)"
	}
	return strings.Join(parts, ", ")
}

// Firmware names the boot path: bios, uefi-x64, uefi-arm64, uefi-http, ipxe or "".
func (c Client) Firmware() string {
	switch {
	case c.IPXE:
		return "ipxe"
	case c.HTTPClient || c.HasArch && isHTTPArch(c.Arch):
		return "uefi-http"
	case !c.PXE:
		return ""
	case !c.HasArch || c.Arch == iana.INTEL_X86PC:
		return "bios"
	case c.Arch == iana.EFI_X86_64 || c.Arch == iana.EFI_BC:
		return "uefi-x64"
	case c.Arch == iana.EFI_ARM64:
		return "uefi-arm64"
	}
	return ""
}

func isHTTPArch(a iana.Arch) bool {
	switch a {
	case iana.EFI_X86_HTTP, iana.EFI_X86_64_HTTP, iana.EFI_BC_HTTP, iana.EFI_ARM32_HTTP, iana.EFI_ARM64_HTTP, iana.INTEL_X86PC_HTTP:
		return true
	}
	return false
}
