package bmc

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// ipmitool runs what bmclib's ipmitool provider does not offer (reading the boot
// flags, mc info) the same way it does: lanplus, password in the environment (-E), so
// it never appears in a process listing.
func (c *Client) ipmitool(ctx context.Context, args ...string) (string, error) {
	bin := c.o.IpmitoolPath
	if bin == "" {
		bin = "ipmitool"
	}
	base := []string{"-I", "lanplus", "-H", c.t.Host, "-p", strconv.Itoa(c.t.Port), "-U", c.t.Login.Username, "-E", "-N", "5", "-C", "3"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = []string{"IPMITOOL_PASSWORD=" + c.t.Login.Password}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ipmitool %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ipmiBootParam reads boot parameter 5 (boot flags). valid is false when the BMC
// marks the flags invalid: the device selector is still what it holds, but
// persistence and UEFI are not reliable (ipmi_sim keeps only the device).
func (c *Client) ipmiBootParam(ctx context.Context) (b Boot, valid bool, err error) {
	out, err := c.ipmitool(ctx, "chassis", "bootparam", "get", "5")
	if err != nil {
		if strings.Contains(out, "not supported") || strings.Contains(out, "Invalid command") {
			return Boot{}, false, errNoReadBack
		}
		return Boot{}, false, err
	}
	return parseBootFlags(out)
}

func parseBootFlags(out string) (b Boot, valid bool, err error) {
	valid = strings.Contains(out, "Boot Flag Valid")
	b.Persistent = strings.Contains(out, "Options apply to all future boots")
	b.Legacy = !strings.Contains(out, "BIOS EFI boot")
	i := strings.Index(out, "Boot Device Selector :")
	if i < 0 {
		return b, false, fmt.Errorf("unexpected ipmitool bootparam output: %q", firstLine(out))
	}
	sel := strings.ToLower(firstLine(out[i+len("Boot Device Selector :"):]))
	switch {
	case strings.Contains(sel, "pxe"):
		b.Device = BootPXE
	case strings.Contains(sel, "hard-drive") || strings.Contains(sel, "hard drive"):
		b.Device = BootDisk
	case strings.Contains(sel, "bios setup"):
		b.Device = BootBIOS
	case strings.Contains(sel, "no override"):
		b.Device = "none"
	default:
		b.Device = strings.TrimSpace(sel)
	}
	return b, valid, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// ipmiInfo reads the BMC's identity from "mc info", the machine's from the FRU
// ("fru print 0"), the BIOS version from the system info parameters where the BMC
// keeps them, and power and health from "chassis status".
func (c *Client) ipmiInfo(ctx context.Context) (*Info, error) {
	out, err := c.ipmitool(ctx, "mc", "info")
	if err != nil {
		return nil, err
	}
	in := parseMCInfo(out)
	if fru, err := c.ipmitool(ctx, "fru", "print", "0"); err == nil {
		parseFRU(fru, in)
	}
	// ipmitool exits 0 when the BMC does not keep the parameter, saying so.
	if v, err := c.ipmitool(ctx, "mc", "getsysinfo", "system_fw_version"); err == nil && !strings.Contains(v, "failed") && !strings.Contains(v, "Invalid") {
		in.BIOS = Sanitize(firstLine(v), 64)
	}
	if cs, err := c.ipmitool(ctx, "chassis", "status"); err == nil {
		parseChassisStatus(cs, in)
	} else if s, err := c.powerState(ctx); err == nil {
		in.Power = s
	}
	return in, nil
}

// fields reads "Key : value" lines, values sanitized.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; !dup {
			m[k] = Sanitize(v, 128)
		}
	}
	return m
}

func parseMCInfo(out string) *Info {
	f := fields(out)
	return &Info{Vendor: f["Manufacturer Name"], Model: f["Product Name"], Firmware: f["Firmware Revision"]}
}

// parseFRU fills what the FRU's product, board and chassis areas say, the product
// area first: the BMC's "mc info" names the BMC's maker, the FRU the machine's.
func parseFRU(out string, in *Info) {
	f := fields(out)
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := f[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if v := first("Product Manufacturer", "Board Mfg"); v != "" {
		in.Vendor = v
	}
	if v := first("Product Name", "Board Product", "Chassis Part Number"); v != "" {
		in.Model = v
	}
	if v := first("Product Serial", "Chassis Serial", "Board Serial"); v != "" {
		in.Serial = v
	}
}

// parseChassisStatus reads power and the fault flags of "chassis status".
func parseChassisStatus(out string, in *Info) {
	f := fields(out)
	if p := f["System Power"]; p != "" {
		in.Power = normalizePower(p)
	}
	in.Health = "OK"
	var faults []string
	for _, k := range []string{"Power Overload", "Main Power Fault", "Power Control Fault", "Drive Fault", "Cooling/Fan Fault"} {
		if f[k] == "true" {
			faults = append(faults, strings.ToLower(k))
		}
	}
	if len(faults) > 0 {
		in.Health = "Warning: " + strings.Join(faults, ", ")
	}
}
