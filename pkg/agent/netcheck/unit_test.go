package netcheck

import (
	"testing"

	"github.com/mdlayher/ethtool"
)

func TestBestCommonSpeed(t *testing.T) {
	m := func(names ...string) []ethtool.AdvertisedLinkMode {
		var out []ethtool.AdvertisedLinkMode
		for _, n := range names {
			out = append(out, ethtool.AdvertisedLinkMode{Name: n})
		}
		return out
	}
	for _, tc := range []struct {
		ours, peer []ethtool.AdvertisedLinkMode
		want       int
	}{
		{m("25000baseCR/Full", "100000baseCR4/Full"), m("25000baseCR/Full", "100000baseCR4/Full"), 100000},
		{m("25000baseCR/Full", "100000baseCR4/Full"), m("25000baseCR/Full"), 25000},
		{m("10000baseT/Full", "Autoneg", "Pause"), nil, 10000},
		{nil, nil, 0},
	} {
		if got := bestCommon(tc.ours, tc.peer); got != tc.want {
			t.Errorf("bestCommon(%v, %v) = %d, want %d", tc.ours, tc.peer, got, tc.want)
		}
	}
}

func TestParsePeer(t *testing.T) {
	for in, want := range map[string]string{
		"10.20.0.12":         "10.20.0.12",
		"gpu-b02=10.20.0.12": "gpu-b02 (10.20.0.12)",
	} {
		p, err := parsePeer(in)
		if err != nil || p.name != want {
			t.Errorf("parsePeer(%q) = %q, %v; want %q", in, p.name, err, want)
		}
	}
	if _, err := parsePeer("gpu-b02"); err == nil {
		t.Error("a bare name parsed as a peer address")
	}
}

func TestEchoOfMatchesQuotedRequest(t *testing.T) {
	q := make([]byte, 28)
	q[0] = 0x45
	q[20] = 8 // echo request
	q[24], q[25], q[26], q[27] = 0x12, 0x34, 0x00, 0x07
	if !echoOf(q, 0x1234, 7) {
		t.Error("quoted echo not recognised")
	}
	if echoOf(q, 0x1234, 8) {
		t.Error("another sequence number matched")
	}
}
