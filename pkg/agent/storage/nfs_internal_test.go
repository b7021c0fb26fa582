package storage

import (
	"errors"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// TestMountOfShadowsAndPrefers: the mount holding a path is the longest mount point that
// is a prefix of it, a later mount on the same point shadows an earlier one, and "/"
// holds everything else. Mutants (make mutate, mountstats.go mountOf).
func TestMountOfShadowsAndPrefers(t *testing.T) {
	t.Parallel()
	ms := []Mount{
		{Point: "/", FSType: "ext4"},
		{Point: "/data", FSType: "xfs"},
		{Point: "/data", FSType: "nfs4", Device: "10.0.0.5:/export"}, // mounted over
		{Point: "/data/scratch", FSType: "tmpfs"},
		{Point: "/datasets", FSType: "ext4"},
	}
	for path, want := range map[string]string{
		"/data/x": "nfs4", "/data": "nfs4", "/data/scratch/y": "tmpfs", "/datasets/z": "ext4", "/home": "ext4",
	} {
		if m, ok := mountOf(ms, path); !ok || m.FSType != want {
			t.Errorf("mountOf(%s) = %+v %v, want %s", path, m, ok, want)
		}
	}
	if _, ok := mountOf(ms[1:2], "/home"); ok {
		t.Error("a path under no mount point found one")
	}
}

// TestNFSChecksOnlyWhatIsAsked: nconnect is checked only when the profile sets it, the
// MTU only when the storage network's MTU is known and the mount has a server; a route
// MTU equal to the network's passes, a smaller one warns naming both. Mutants (make
// mutate, storage.go nfsChecks, orDefault).
func TestNFSChecksOnlyWhatIsAsked(t *testing.T) {
	t.Parallel()
	nfsMount := Mount{Device: "10.0.0.5:/export", Point: "/data", FSType: "nfs4", Opts: map[string]string{}, Xprts: 1}
	route := func(mtu int, err error) func(string) (string, int, error) {
		return func(string) (string, int, error) { return "ens1f0", mtu, err }
	}
	checks := func(e expect.Storage, o Options) []check.Result {
		o.DevOf = func(string) (uint32, uint32, error) { return 0, 0, errors.New("not mounted here") }
		o.defaults()
		return nfsChecks(nfsMount, []Mount{nfsMount}, e, o)
	}
	find := func(rs []check.Result, name string) *check.Result {
		for i := range rs {
			if rs[i].Name == name {
				return &rs[i]
			}
		}
		return nil
	}
	rs := checks(expect.Storage{Mount: "/data"}, Options{RouteMTU: route(1500, nil)})
	if find(rs, "nconnect") != nil || find(rs, "mtu") != nil {
		t.Errorf("nconnect or mtu checked without being asked: %+v", rs)
	}
	rs = checks(expect.Storage{Mount: "/data", Nconnect: 4}, Options{RouteMTU: route(9000, nil), NetworkMTU: 9000})
	if r := find(rs, "nconnect"); r == nil || r.Observed != "1 connection(s) (opts nconnect=1)" {
		t.Errorf("nconnect result %+v, want the default nconnect=1 observed", r)
	}
	if r := find(rs, "mtu"); r == nil || r.Status != check.Pass || r.Observed != "9000 on ens1f0" {
		t.Errorf("mtu at the network's: %+v, want pass", r)
	}
	rs = checks(expect.Storage{Mount: "/data"}, Options{RouteMTU: route(1500, nil), NetworkMTU: 9000})
	if r := find(rs, "mtu"); r == nil || r.Status != check.Warn || r.Observed != "1500 on ens1f0" {
		t.Errorf("mtu below the network's: %+v, want a warning", r)
	}
	rs = checks(expect.Storage{Mount: "/data"}, Options{RouteMTU: route(0, errors.New("no route")), NetworkMTU: 9000})
	if r := find(rs, "mtu"); r == nil || r.Status != check.Warn || r.Observed != "unknown" {
		t.Errorf("no route: %+v, want a warning", r)
	}
	if orDefault("", "1") != "1" || orDefault("8", "1") != "8" {
		t.Error("orDefault")
	}
}
