package bmc

import "testing"

func TestIPMIInventoryParsing(t *testing.T) {
	t.Parallel()
	const fru = `FRU Device Description : Builtin FRU Device (ID 0)
 Board Mfg             : ASUSTeK
 Board Serial          : BSN-1
 Product Manufacturer  : ASUS
 Product Name          : ESC N8-E11
 Product Serial        : PSN-9` + "\x1b[31m" + `
`
	for _, tc := range []struct {
		name, chassis string
		want          Info
	}{
		{name: "healthy", chassis: "System Power         : on\nPower Overload       : false\nMain Power Fault     : false\n",
			want: Info{Vendor: "ASUS", Model: "ESC N8-E11", Serial: "PSN-9 [31m", Firmware: "1.2", Power: "on", Health: "OK"}},
		{name: "faults", chassis: "System Power         : off\nMain Power Fault     : true\nCooling/Fan Fault    : true\n",
			want: Info{Vendor: "ASUS", Model: "ESC N8-E11", Serial: "PSN-9 [31m", Firmware: "1.2", Power: "off", Health: "Warning: main power fault, cooling/fan fault"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := parseMCInfo("Manufacturer Name : Super Micro Computer Inc.\nProduct Name : X13\nFirmware Revision : 1.2\n")
			parseFRU(fru, in)
			parseChassisStatus(tc.chassis, in)
			if *in != tc.want {
				t.Errorf("got %+v, want %+v", *in, tc.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{in: "ok\r\n\tline", max: 100, want: "ok line"},
		{in: "bad \xff utf8", max: 100, want: "bad ? utf8"},
		{in: "1234567890", max: 5, want: "12345…"},
		{in: "ééé", max: 3, want: "é…"},
	} {
		if got := Sanitize(tc.in, tc.max); got != tc.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
