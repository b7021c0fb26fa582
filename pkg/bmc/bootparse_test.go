package bmc

import (
	"strings"
	"testing"
)

// bootParam is `ipmitool chassis bootparam get 5` as ipmitool prints it, with the flag
// lines given.
func bootParam(lines ...string) string {
	return "Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\nBoot parameter data: e004000000\n Boot Flags :\n" +
		"   - " + strings.Join(lines, "\n   - ") + "\n   - Console Redirection control : System Default\n"
}

// The IPMI boot read-back tells once from persistent and UEFI from legacy, and which
// device: a read-back ignoring a flag would let a persistent or legacy override pass
// as the once-UEFI one asked for (issue 20).
func TestParseBootFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		out       string
		want      Boot
		wantValid bool
		wantErr   bool
	}{
		{name: "pxe once UEFI",
			out:  bootParam("Boot Flag Valid", "Options apply to only next boot", "BIOS EFI boot ", "Boot Device Selector : Force PXE"),
			want: Boot{Device: BootPXE}, wantValid: true},
		{name: "pxe persistent UEFI",
			out:  bootParam("Boot Flag Valid", "Options apply to all future boots", "BIOS EFI boot ", "Boot Device Selector : Force PXE"),
			want: Boot{Device: BootPXE, Persistent: true}, wantValid: true},
		{name: "pxe once legacy",
			out:  bootParam("Boot Flag Valid", "Options apply to only next boot", "BIOS PC Compatible (legacy) boot ", "Boot Device Selector : Force PXE"),
			want: Boot{Device: BootPXE, Legacy: true}, wantValid: true},
		{name: "disk persistent legacy",
			out:  bootParam("Boot Flag Valid", "Options apply to all future boots", "BIOS PC Compatible (legacy) boot ", "Boot Device Selector : Force Boot from default Hard-Drive"),
			want: Boot{Device: BootDisk, Persistent: true, Legacy: true}, wantValid: true},
		{name: "disk, other wording",
			out:  bootParam("Boot Flag Valid", "BIOS EFI boot ", "Boot Device Selector : Force Boot from default Hard Drive"),
			want: Boot{Device: BootDisk}, wantValid: true},
		{name: "bios setup",
			out:  bootParam("Boot Flag Valid", "BIOS EFI boot ", "Boot Device Selector : Force Boot into BIOS Setup"),
			want: Boot{Device: BootBIOS}, wantValid: true},
		{name: "no override",
			out:  bootParam("Boot Flag Valid", "BIOS EFI boot ", "Boot Device Selector : No override"),
			want: Boot{Device: "none"}, wantValid: true},
		{name: "other device, as the BMC names it",
			out:  bootParam("Boot Flag Valid", "BIOS EFI boot ", "Boot Device Selector : Force Boot from CD/DVD  "),
			want: Boot{Device: "force boot from cd/dvd"}, wantValid: true},
		{name: "flags invalid: the device only",
			out:  bootParam("Boot Flag Invalid", "Options apply to only next boot", "BIOS PC Compatible (legacy) boot ", "Boot Device Selector : Force PXE"),
			want: Boot{Device: BootPXE, Legacy: true}, wantValid: false},
		{name: "selector first", out: "Boot Device Selector : Force PXE\nBoot Flag Valid\nBIOS EFI boot\n",
			want: Boot{Device: BootPXE}, wantValid: true},
		{name: "no selector", out: "Boot parameter version: 1\nBoot Flag Valid\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, valid, err := parseBootFlags(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if valid || !strings.Contains(err.Error(), "Boot parameter version: 1") {
					t.Errorf("valid %v, err %v: want invalid and the output's first line", valid, err)
				}
				return
			}
			if got != tc.want || valid != tc.wantValid {
				t.Errorf("got %+v valid %v, want %+v valid %v", got, valid, tc.want, tc.wantValid)
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"  a b  \n c\n": "a b", "one": "one", "\n\nx\ny": "x", "": ""} {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// "Key : value" lines: the first of a key wins, values sanitized, lines without a colon
// skipped.
func TestFields(t *testing.T) {
	t.Parallel()
	f := fields("Product Name : X13\nno colon here\nProduct Name : later\nURL : http://a:b\n Spaced   :  v\x01 w \n")
	want := map[string]string{"Product Name": "X13", "URL": "http://a:b", "Spaced": "v w"}
	if len(f) != len(want) {
		t.Errorf("fields %q, want %q", f, want)
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%q: %q, want %q", k, f[k], v)
		}
	}
}

// The FRU's product area wins over the board's and chassis', and each falls back in
// order; mc info's names stay where the FRU says nothing.
func TestParseFRUFallbacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fru string
		want      Info
	}{
		{name: "board only", fru: "Board Mfg : BoardCo\nBoard Product : BP-1\nBoard Serial : BS-1\n",
			want: Info{Vendor: "BoardCo", Model: "BP-1", Serial: "BS-1"}},
		{name: "chassis serial before board's", fru: "Chassis Part Number : CP-7\nChassis Serial : CS-1\nBoard Serial : BS-1\n",
			want: Info{Vendor: "mc vendor", Model: "CP-7", Serial: "CS-1"}},
		{name: "empty FRU keeps mc info", fru: "FRU Device Description : Builtin FRU Device (ID 0)\n",
			want: Info{Vendor: "mc vendor", Model: "mc model"}},
		{name: "empty product values fall through", fru: "Product Manufacturer : \nBoard Mfg : B\nProduct Name :\nBoard Product : BP\n",
			want: Info{Vendor: "B", Model: "BP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Info{Vendor: "mc vendor", Model: "mc model"}
			parseFRU(tc.fru, in)
			if *in != tc.want {
				t.Errorf("got %+v, want %+v", *in, tc.want)
			}
		})
	}
}

// chassis status: power normalized, every fault flag named, a missing power line
// leaves what was known.
func TestParseChassisStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, out string
		want      Info
	}{
		{name: "each fault", out: "System Power : on\nPower Overload : true\nMain Power Fault : false\nPower Control Fault : true\nDrive Fault : true\nCooling/Fan Fault : false\n",
			want: Info{Power: "on", Health: "Warning: power overload, power control fault, drive fault"}},
		{name: "no power line", out: "Main Power Fault : false\n", want: Info{Power: "before", Health: "OK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Info{Power: "before"}
			parseChassisStatus(tc.out, in)
			if *in != tc.want {
				t.Errorf("got %+v, want %+v", *in, tc.want)
			}
		})
	}
}
