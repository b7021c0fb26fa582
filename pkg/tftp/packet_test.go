package tftp

import (
	"bytes"
	"testing"
)

func TestParseRequest(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		in   string
		ok   bool
		name string
		opts int
	}{
		{"\x00\x01undionly.kpxe\x00octet\x00", true, "undionly.kpxe", 0},
		{"\x00\x01ipxe.efi\x00OCTET\x00blksize\x001468\x00tsize\x000\x00windowsize\x004\x00", true, "ipxe.efi", 3},
		{"\x00\x01f\x00octet", false, "", 0}, // no final NUL
		{"\x00\x01f\x00", false, "", 0},      // no mode
		{"\x00\x01", false, "", 0},           // nothing
		{"\x00\x01\x00", false, "", 0},       // 3 bytes
		// 4 bytes: an empty name and mode parse, so the client is told why it is refused
		// (the mode) instead of getting no answer (make mutate: packet.go len(b) <= 4).
		{"\x00\x01\x00\x00", true, "", 0},
		{"\x00\x01f\x00octet\x00odd\x00", true, "f", 0}, // an option without value is dropped
	} {
		r, err := parseRequest([]byte(tc.in))
		if (err == nil) != tc.ok || r.filename != tc.name || len(r.opts) != tc.opts {
			t.Errorf("parseRequest(%q) = %+v, %v", tc.in, r, err)
		}
	}
	r, _ := parseRequest([]byte("\x00\x01f\x00octet\x00BlkSize\x0099999\x00windowsize\x0016\x00"))
	if _, ok := r.intOption("blksize", 8, 65464); ok {
		t.Error("blksize 99999 accepted")
	}
	if n, ok := r.intOption("windowsize", 1, 65535); !ok || n != 16 {
		t.Errorf("windowsize = %d, %v", n, ok)
	}
}

// FuzzRequest: any datagram parses or is refused without a panic, and what parses
// holds no NUL in its names (they came NUL-separated).
func FuzzRequest(f *testing.F) {
	f.Add([]byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x001468\x00tsize\x000\x00"))
	f.Add([]byte("\x00\x02up\x00netascii\x00"))
	f.Add([]byte("\x00\x04\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		for _, s := range []string{r.filename, r.mode} {
			if bytes.IndexByte([]byte(s), 0) >= 0 {
				t.Fatalf("NUL inside %q", s)
			}
		}
		for _, o := range r.opts {
			r.intOption(o.name, 1, 65535)
		}
	})
}
