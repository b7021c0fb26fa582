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

// ipmiInfo reads the BMC's identity from "mc info".
func (c *Client) ipmiInfo(ctx context.Context) (*Info, error) {
	out, err := c.ipmitool(ctx, "mc", "info")
	if err != nil {
		return nil, err
	}
	in := &Info{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Manufacturer Name":
			in.Vendor = v
		case "Product Name":
			in.Model = v
		case "Firmware Revision":
			in.Firmware = v
		}
	}
	if s, err := c.powerState(ctx); err == nil {
		in.Power = s
	}
	return in, nil
}
