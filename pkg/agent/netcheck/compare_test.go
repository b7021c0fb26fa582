package netcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/check"
)

// The comparisons below run in every `go test -short`; the namespace tests
// (netcheck_test.go) drive the same code through real links as root.

func TestHasCarrier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flags uint32
		ok    bool
		state string
	}{
		{flags: unix.IFF_UP | iffLowerUp, ok: true, state: "up, carrier"},
		{flags: unix.IFF_UP, ok: false, state: "up, NO-CARRIER"},
		{flags: iffLowerUp, ok: false, state: "administratively down"},
		{flags: 0, ok: false, state: "administratively down"},
	} {
		l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth0", RawFlags: tc.flags, OperState: netlink.OperUp}}
		ok, state := hasCarrier(l)
		if ok != tc.ok || !strings.HasPrefix(state, tc.state) {
			t.Errorf("flags %#x: %v %q; want %v %q", tc.flags, ok, state, tc.ok, tc.state)
		}
	}
}

func TestMTUVerdict(t *testing.T) {
	t.Parallel()
	la := func(name string, mtu int) netlink.LinkAttrs { return netlink.LinkAttrs{Name: name, MTU: mtu} }
	for _, tc := range []struct {
		name         string
		want         int
		link, parent netlink.LinkAttrs
		child        bool
		st           check.Status
		obs, msg     string
	}{
		{name: "NIC at the MTU", want: 9000, link: la("eth0", 9000), parent: la("eth0", 9000), st: check.Pass, obs: "9000"},
		{name: "NIC below", want: 9000, link: la("eth0", 1500), parent: la("eth0", 1500), st: check.Fail, obs: "1500",
			msg: "eth0 has MTU 1500, the inventory says 9000: set it (`node-agent net apply`)"},
		{name: "NIC above", want: 1500, link: la("eth0", 9000), parent: la("eth0", 9000), st: check.Fail, obs: "9000",
			msg: "eth0 has MTU 9000, the inventory says 1500"},
		{name: "VLAN right, parent big enough", want: 9000, link: la("eth0.200", 9000), parent: la("eth0", 9216), child: true, st: check.Pass, obs: "9000"},
		{name: "VLAN right, parent below", want: 9000, link: la("eth0.200", 9000), parent: la("eth0", 8999), child: true, st: check.Fail,
			obs: "9000 (parent eth0 8999)", msg: "parent eth0 has MTU 8999, below the network's 9000: the VLAN cannot carry full frames; raise eth0's MTU"},
		{name: "VLAN wrong, parent below", want: 9000, link: la("eth0.200", 1500), parent: la("eth0", 1500), child: true, st: check.Fail,
			obs: "1500", msg: "eth0.200 has MTU 1500, the inventory says 9000: set it (`node-agent net apply`); its parent eth0 has MTU 1500 and must be raised first"},
		{name: "VLAN wrong, parent fine", want: 9000, link: la("eth0.200", 1500), parent: la("eth0", 9000), child: true, st: check.Fail,
			obs: "1500", msg: "eth0.200 has MTU 1500, the inventory says 9000: set it (`node-agent net apply`)"},
	} {
		st, obs, msg := mtuVerdict(tc.want, tc.link, tc.parent, tc.child)
		if st != tc.st || obs != tc.obs || !strings.HasPrefix(msg, tc.msg) || (tc.msg == "") != (msg == "") {
			t.Errorf("%s: %s %q %q; want %s %q %q", tc.name, st, obs, msg, tc.st, tc.obs, tc.msg)
		}
		if tc.name == "VLAN wrong, parent fine" && strings.Contains(msg, "parent") {
			t.Errorf("%s: %q blames the parent", tc.name, msg)
		}
	}
}

func TestSpeedVerdict(t *testing.T) {
	t.Parallel()
	modes := func(names ...string) []ethtool.AdvertisedLinkMode {
		var out []ethtool.AdvertisedLinkMode
		for _, n := range names {
			out = append(out, ethtool.AdvertisedLinkMode{Name: n})
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		lm            *ethtool.LinkMode
		st            check.Status
		obs, exp, msg string
	}{
		{name: "none reported", lm: nil, st: check.Warn, obs: "not reported", msg: "ens1 reports no link speed"},
		{name: "unknown speed", lm: &ethtool.LinkMode{SpeedMegabits: 0xffffffff}, st: check.Warn, obs: "not reported", msg: "speed not checked"},
		{name: "zero speed", lm: &ethtool.LinkMode{SpeedMegabits: 0}, st: check.Warn, obs: "not reported", msg: "speed not checked"},
		{name: "half duplex", lm: &ethtool.LinkMode{SpeedMegabits: 1000, Duplex: ethtool.Half}, st: check.Fail, obs: "1000 Mb/s half duplex", exp: "full duplex", msg: "ens1 runs half duplex"},
		{name: "best common", lm: &ethtool.LinkMode{SpeedMegabits: 100000, Duplex: ethtool.Full, Ours: modes("25000baseCR/Full", "100000baseCR4/Full"), Peer: modes("100000baseCR4/Full")}, st: check.Pass, obs: "100000 Mb/s"},
		{name: "trained low", lm: &ethtool.LinkMode{SpeedMegabits: 25000, Duplex: ethtool.Full, Ours: modes("25000baseCR/Full", "100000baseCR4/Full"), Peer: modes("25000baseCR/Full", "100000baseCR4/Full")}, st: check.Warn, obs: "25000 Mb/s", exp: "100000 Mb/s",
			msg: "ens1 trained at 25000 Mb/s though both ends advertise 100000 Mb/s"},
		{name: "peer slower: not a fault", lm: &ethtool.LinkMode{SpeedMegabits: 25000, Duplex: ethtool.Full, Ours: modes("25000baseCR/Full", "100000baseCR4/Full"), Peer: modes("25000baseCR/Full")}, st: check.Pass, obs: "25000 Mb/s"},
		{name: "above the advertised", lm: &ethtool.LinkMode{SpeedMegabits: 200000, Duplex: ethtool.Full, Ours: modes("100000baseCR4/Full")}, st: check.Pass, obs: "200000 Mb/s"},
	} {
		st, obs, exp, msg := speedVerdict("ens1", tc.lm)
		if st != tc.st || obs != tc.obs || exp != tc.exp || !strings.Contains(msg, tc.msg) || (tc.msg == "") != (msg == "") {
			t.Errorf("%s: %s %q %q %q; want %s %q %q %q", tc.name, st, obs, exp, msg, tc.st, tc.obs, tc.exp, tc.msg)
		}
	}
}

func TestAddressVerdict(t *testing.T) {
	t.Parallel()
	addrs := func(cidrs ...string) []netlink.Addr {
		var out []netlink.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				t.Fatal(err)
			}
			n.IP = ip
			out = append(out, netlink.Addr{IPNet: n})
		}
		return out
	}
	for _, tc := range []struct {
		want   string
		have   []netlink.Addr
		found  bool
		st     check.Status
		obs    string
		msgHas string
	}{
		{want: "10.20.0.11/22", have: addrs("fe80::1/64", "10.20.0.11/22"), found: true, st: check.Pass, obs: "10.20.0.11/22"},
		{want: "10.20.0.11/22", have: addrs("10.20.0.11/24"), found: true, st: check.Warn, obs: "10.20.0.11/24",
			msgHas: "eth0.200 has 10.20.0.11 with prefix /24, the inventory says /22"},
		{want: "10.20.0.11/32", have: addrs("10.20.0.11/24"), found: true, st: check.Pass, obs: "10.20.0.11/24"},
		{want: "10.20.0.11/22", have: addrs("10.20.0.12/22", "10.20.1.11/22"), found: false},
		{want: "10.20.0.11/22", have: nil, found: false},
		{want: "2001:db8::11/64", have: addrs("2001:db8::11/64"), found: true, st: check.Pass, obs: "2001:db8::11/64"},
	} {
		found, st, obs, msg := addressVerdict("eth0.200", netip.MustParsePrefix(tc.want), tc.have)
		if found != tc.found || st != tc.st || obs != tc.obs || !strings.Contains(msg, tc.msgHas) || (tc.msgHas == "") != (msg == "") {
			t.Errorf("%s among %v: %v %s %q %q; want %v %s %q %q", tc.want, tc.have, found, st, obs, msg, tc.found, tc.st, tc.obs, tc.msgHas)
		}
	}
}

func TestProbeVerdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err      error
		st       check.Status
		obs, msg string
	}{
		{err: nil, st: check.Pass, obs: "9000-byte DF echo answered"},
		{err: errTooBig, st: check.Fail, obs: "local MTU too small", msg: "the kernel refuses a 9000-byte packet to peer b (10.0.0.2): the local route or interface MTU is below 9000"},
		{err: fmt.Errorf("send: %w", errTooBig), st: check.Fail, obs: "local MTU too small"},
		{err: &fragNeeded{From: netip.MustParseAddr("10.0.0.1"), NextMTU: 1500}, st: check.Fail, obs: "next-hop MTU 1500",
			msg: "9000-byte DF probe to peer b (10.0.0.2): 10.0.0.1 answers 'fragmentation needed', next-hop MTU 1500: a router on the path has a smaller MTU"},
		{err: errNoReply, st: check.Fail, obs: "no reply to big DF echo", msg: "MTU mismatch on the path to peer b (10.0.0.2): 84-byte echoes answer but 9000-byte don't-fragment echoes vanish"},
		{err: errors.New("socket: operation not permitted"), st: check.Fail, obs: "socket: operation not permitted", msg: "9000-byte DF probe to peer b (10.0.0.2): socket: operation not permitted"},
	} {
		st, obs, msg := probeVerdict(tc.err, 9000, "peer b (10.0.0.2)")
		if st != tc.st || obs != tc.obs || !strings.HasPrefix(msg, tc.msg) || (tc.msg == "") != (msg == "") && tc.err == nil {
			t.Errorf("%v: %s %q %q; want %s %q %q", tc.err, st, obs, msg, tc.st, tc.obs, tc.msg)
		}
	}
}
