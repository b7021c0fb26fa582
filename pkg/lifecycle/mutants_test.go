package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/state"
)

// Tests for the mutants `make mutate` found alive in pkg/lifecycle (issue 20); each was
// put back by hand and the test named in its comment failed.

// failStore is a state.Store whose writes fail while fail is set (a full disk, a
// damaged file): serve must say so, not carry on as if the intent were recorded.
type failStore struct {
	state.Store
	fail atomic.Bool
	err  error // what a failing Update returns (errDiskFull when nil)
}

var errDiskFull = errors.New("write state.db: no space left on device")

func (s *failStore) Update(name string, fn func(n *state.Node) ([]state.Event, error)) ([]state.Event, error) {
	if s.fail.Load() {
		if s.err != nil {
			return nil, s.err
		}
		return nil, errDiskFull
	}
	return s.Store.Update(name, fn)
}

// withLog gives the rig's machine a logger into a buffer and returns the buffer.
func (r *rig) withLog() *testenv.SyncBuffer {
	lb := &testenv.SyncBuffer{}
	r.m.cfg.Log = slog.New(slog.NewTextHandler(lb, nil))
	return lb
}

// TestFailedStoreWritesAreErrors: when the store cannot record a power intent, a disk
// boot intent or a timeout, Tick returns the error (and Run logs it) instead of
// calling the BMC without a record or dropping it. Mutants: tick.go's `err != nil`
// checks after issue and issueDisk negated, the expire error dropped.
// tickWrites brings n1 to each write a tick makes: a power intent, a disk boot intent, a
// timeout. want is what a failed write's error says.
var tickWrites = []struct {
	name  string
	setup func(r *rig)
	want  string
}{
	{name: "power intent", setup: func(r *rig) { r.up(tgt("n1")) }, want: "record power intent for n1"},
	{name: "disk boot intent", setup: func(r *rig) {
		r.toValidating(UpOptions{})
		r.report(report(r.t, check.BootRamdisk, true, verified), true) // rebooting, disk boot due
	}, want: "record disk boot intent for n1"},
	{name: "timeout", setup: func(r *rig) {
		r.up(tgt("n1"))
		r.tick()
		r.clock.Add(DefaultTimeouts[PXE] + 1) // pxe has run out
	}, want: errDiskFull.Error()},
}

func TestFailedStoreWritesAreErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range tickWrites {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			fs := &failStore{Store: r.store}
			r.m.store = fs
			tc.setup(r)
			pxe, disk := r.power.count("n1"), r.power.count("disk/n1")
			fs.fail.Store(true)
			err := r.m.Tick(context.Background())
			r.m.Drain()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errDiskFull) {
				t.Fatalf("Tick with a failing store = %v, want an error with %q wrapping the store's", err, tc.want)
			}
			if r.power.count("n1") != pxe || r.power.count("disk/n1") != disk {
				t.Errorf("BMC called without a recorded intent: %d PXE, %d disk cycles, had %d, %d", r.power.count("n1"), r.power.count("disk/n1"), pxe, disk)
			}
			// serve's loop logs the tick's error and goes on.
			lb := r.withLog()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // one tick, then Run returns
			if err := r.m.Run(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(lb.String(), "lifecycle tick") || !strings.Contains(lb.String(), "no space left") {
				t.Errorf("Run logged %q, want the tick's error", lb.String())
			}
		})
	}
}

// TestNodesDrivenElsewhereAreNoTickError: on shared state, a node that moved to another
// instance between the tick's list and its write (the store says ErrDrivenElsewhere) is
// left to that instance: no error for this tick (no log line per node), no BMC call.
func TestNodesDrivenElsewhereAreNoTickError(t *testing.T) {
	t.Parallel()
	for _, tc := range tickWrites {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			fs := &failStore{Store: r.store, err: fmt.Errorf("node n1: not recording a power action: %w", ErrDrivenElsewhere)}
			r.m.store = fs
			tc.setup(r)
			pxe, disk := r.power.count("n1"), r.power.count("disk/n1")
			fs.fail.Store(true)
			err := r.m.Tick(context.Background())
			r.m.Drain()
			if err != nil {
				t.Errorf("Tick with the node driven elsewhere = %v, want no error", err)
			}
			if r.power.count("n1") != pxe || r.power.count("disk/n1") != disk {
				t.Errorf("BMC called for a node driven elsewhere: %d PXE, %d disk cycles, had %d, %d", r.power.count("n1"), r.power.count("disk/n1"), pxe, disk)
			}
		})
	}
}

// TestBMCResultNotRecordedIsLogged: a BMC result the store cannot record is logged with
// the node (and a recorded one logs nothing). Mutants: powerDone's and diskDone's
// `err != nil` before the log negated.
func TestBMCResultNotRecordedIsLogged(t *testing.T) {
	t.Parallel()
	t.Run("recorded: nothing logged", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		lb := r.withLog()
		r.toValidating(UpOptions{})
		r.report(report(t, check.BootRamdisk, true, verified), true)
		r.tick()
		r.m.Drain()
		if n := r.node("n1"); n.Deployed == nil || n.Deployed.Reboot.DoneAt.IsZero() || r.power.count("disk/n1") != 1 {
			t.Fatalf("disk boot not recorded: %+v", n.Deployed)
		}
		if s := lb.String(); s != "" {
			t.Errorf("a run where every write succeeded logged:\n%s", s)
		}
	})
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("store fails, disk boot %v", disk), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			fs := &failStore{Store: r.store}
			r.m.store = fs
			gate, started := make(chan struct{}), make(chan struct{}, 1)
			if disk {
				r.toValidating(UpOptions{})
				r.report(report(t, check.BootRamdisk, true, verified), true)
				r.m.power = gateDisk{r.power, gate, started}
			} else {
				r.up(tgt("n1"))
				r.m.power = gatePower{r.power, gate, started}
			}
			lb := r.withLog()
			if err := r.m.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-started // the intent is recorded and the call under way
			fs.fail.Store(true)
			close(gate)
			r.m.Drain()
			want := "record BMC result"
			if disk {
				want = "record BMC disk boot result"
			}
			if s := lb.String(); !strings.Contains(s, want) || !strings.Contains(s, "node=n1") || !strings.Contains(s, "no space left") {
				t.Errorf("log %q, want %q naming n1 and the store's error", s, want)
			}
		})
	}
}

// gateDisk is gatePower for the disk boot.
type gateDisk struct {
	p       *power
	gate    chan struct{}
	started chan struct{}
}

func (g gateDisk) PXECycle(ctx context.Context, t Target) error { return g.p.PXECycle(ctx, t) }
func (g gateDisk) DiskCycle(ctx context.Context, t Target) error {
	g.p.DiskCycle(ctx, t)
	g.started <- struct{}{}
	<-g.gate
	return nil
}

// TestLockedBeforeItsDiskBoot: a node made protected while its image was written is
// failed at the disk boot, and its BMC is not called. Mutant: issueDisk's `err == nil &&
// run == 0` (the lock refused it) negated, which called DiskCycle for run 0.
func TestLockedBeforeItsDiskBoot(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.toValidating(UpOptions{})
	r.report(report(t, check.BootRamdisk, true, verified), true)
	locked := dtgt("n1")
	locked.Protected = true
	r.m.SetTargets([]Target{locked})
	r.tick()
	r.m.Drain()
	n := r.node("n1")
	if r.power.count("disk/n1") != 0 || Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "protected") {
		t.Errorf("protected before its disk boot: phase %s reason %q disk cycles %d; want failed naming protected, no BMC call",
			n.Phase, n.Reason, r.power.count("disk/n1"))
	}
}

// kinds counts the node's recent events by kind.
func kinds(n state.Node) map[Kind]int {
	c := map[Kind]int{}
	for _, e := range n.Recent {
		c[Kind(e.Kind)]++
	}
	return c
}

// TestDiskReportPassesInstalledOnce: the installed system's report reaches ready through
// installed exactly once, whether its agent said hello first or not. Mutants: diskReport's
// `order[cur] < order[Installed]` negated (no installed step from rebooting) or made <=
// (installed entered twice).
func TestDiskReportPassesInstalledOnce(t *testing.T) {
	t.Parallel()
	for _, hello := range []bool{true, false} {
		t.Run(fmt.Sprintf("hello first %v", hello), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			r.toValidating(UpOptions{})
			r.report(report(t, check.BootRamdisk, true, verified), true)
			r.tick()
			r.m.Drain()
			if hello {
				r.handle("n1", AgentHello)
			}
			if p := r.report(report(t, check.BootDisk, true, nil), true); p != Ready {
				t.Fatalf("phase %s, want ready", p)
			}
			if c := kinds(r.node("n1")); c[InstalledHello] != 1 || c[NodeReady] != 1 {
				t.Errorf("events %v: want one %s and one %s", c, InstalledHello, NodeReady)
			}
		})
	}
}

// TestReportWhileQueuedIsOnlyRecorded: in a wave, a report from a node still queued for
// its power cycle (an OS it ran before) is stored and moves nothing. Mutant:
// deployReport's `cur == Powering` negated, which started a deploy on it.
func TestReportWhileQueuedIsOnlyRecorded(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Wave: 1})
	r.m.SetTargets([]Target{dtgt("n0"), dtgt("n1")})
	if _, err := r.m.Up([]Target{dtgt("n0"), dtgt("n1")}, UpOptions{}); err != nil {
		t.Fatal(err)
	}
	r.tick()
	if n := r.node("n1"); !queued(n) {
		t.Fatalf("n1 %+v, want queued", n)
	}
	for _, pass := range []bool{true, false} {
		if p := r.report(report(t, check.BootRamdisk, pass, nil), pass); p != Powering {
			t.Errorf("report (pass %v) while queued: phase %s, want powering", pass, p)
		}
	}
	if n := r.node("n1"); len(n.Report) == 0 || n.Deployed != nil {
		t.Errorf("queued node after a report: report %d bytes, deployed %+v; want stored, nothing deployed", len(n.Report), n.Deployed)
	}
}

// TestFetches: an HTTP event is the image's fetch when its path is the image URL's
// /artifacts/ path, whatever the host; a URL that is only the path counts too.
// Mutant: `i < 0` made `i <= 0`.
func TestFetches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		detail, url string
		want        bool
	}{
		{detail: "/artifacts/debian.raw.zst from 10.1.0.7", url: "http://10.1.0.1:8080/artifacts/debian.raw.zst", want: true},
		{detail: "/artifacts/debian.raw.zst from 10.1.0.7", url: "/artifacts/debian.raw.zst", want: true},
		{detail: "/artifacts/other.raw.zst from 10.1.0.7", url: "http://10.1.0.1:8080/artifacts/debian.raw.zst", want: false},
		{detail: "/artifacts/debian.raw.zst from 10.1.0.7", url: "http://mirror.lab/images/debian.raw.zst", want: false},
	} {
		if got := fetches(tc.detail, tc.url); got != tc.want {
			t.Errorf("fetches(%q, %q) = %v, want %v", tc.detail, tc.url, got, tc.want)
		}
	}
}

// TestHintsAndDisksSeen: the words of a no-disk failure name only the hints that are set,
// and at most maxDisksNamed disks. Mutants: `MinSizeGiB > 0` made >=; the disk bound.
func TestHintsAndDisksSeen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		h    expect.RootDeviceHints
		want string
	}{
		{h: expect.RootDeviceHints{}, want: "smallest non-removable"},
		{h: expect.RootDeviceHints{Model: "SAMSUNG MZ7"}, want: "model SAMSUNG MZ7"},
		{h: expect.RootDeviceHints{MaxSizeGiB: 500, WWN: "0x5002"}, want: "at most 500 GiB, wwn 0x5002"},
		{h: expect.RootDeviceHints{MinSizeGiB: 100, Serial: "S3", ByPath: "pci-0000:00:1f.2-ata-1", Smallest: true},
			want: "at least 100 GiB, serial S3, by-path pci-0000:00:1f.2-ata-1, smallest non-removable"},
	} {
		if got := Hints(tc.h); got != tc.want {
			t.Errorf("Hints(%+v) = %q, want %q", tc.h, got, tc.want)
		}
	}
	if got := disksSeen(nil); got != "none" {
		t.Errorf("disksSeen(nil) = %q, want none", got)
	}
	var ds []check.DiskChoice
	for i := range maxDisksNamed + 4 {
		ds = append(ds, check.DiskChoice{Device: fmt.Sprintf("/dev/nvme%dn1", i), SizeBytes: 1 << 30})
	}
	got := disksSeen(ds)
	last := fmt.Sprintf("/dev/nvme%dn1 ", maxDisksNamed-1)
	if !strings.Contains(got, last) || strings.Contains(got, fmt.Sprintf("/dev/nvme%dn1 ", maxDisksNamed)) || !strings.HasSuffix(got, "; and 4 more") {
		t.Errorf("disksSeen(%d disks) = %q, want the first %d and 'and 4 more'", len(ds), got, maxDisksNamed)
	}
}
