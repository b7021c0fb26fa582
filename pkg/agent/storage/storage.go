package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Options are the measurement bounds and where the NFS inspection reads from; zero
// values mean the real machine.
type Options struct {
	Params
	NoBuffered bool                                                   // skip the buffered single-stream read
	Mountstats string                                                 // default /proc/self/mountstats
	SysRoot    string                                                 // default /sys (bdi readahead)
	DevOf      func(path string) (major, minor uint32, err error)     // default stat(2)
	RouteMTU   func(server string) (iface string, mtu int, err error) // default netlink route lookup
	NetworkMTU int                                                    // the storage network's MTU; 0: not checked
	AbsentOK   bool                                                   // a missing mount only warns (the agent ramdisk mounts nothing)
	// NoThroughput skips the write/read measurements and keeps the mount and NFS
	// checks: the daemon measures throughput less often than it checks.
	NoThroughput bool
}

func (o *Options) defaults() {
	o.Params.defaults()
	if o.Mountstats == "" {
		o.Mountstats = "/proc/self/mountstats"
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.DevOf == nil {
		o.DevOf = statDev
	}
	if o.RouteMTU == nil {
		o.RouteMTU = routeMTU
	}
}

// NFS mount limits.
const (
	wantRWSize        = 1 << 20 // rsize/wsize
	defaultReadahead  = 128     // KiB, the kernel default since 5.4
	suggestReadaheadK = 15360   // 15 MiB, as Azure NetApp Files tests use
)

// Check measures and inspects every mount the profile names.
func Check(ctx context.Context, exps []expect.Storage, o Options) []check.Result {
	o.defaults()
	var mounts []Mount
	var msErr error
	if f, err := os.Open(o.Mountstats); err != nil {
		msErr = err
	} else {
		mounts, msErr = ParseMountstats(f)
		f.Close()
	}
	var out []check.Result
	for _, e := range exps {
		out = append(out, checkMount(ctx, e, mounts, msErr, o)...)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

func checkMount(ctx context.Context, e expect.Storage, mounts []Mount, msErr error, o Options) []check.Result {
	prefix := "storage." + e.Mount + "."
	var out []check.Result
	add := func(r check.Result, start time.Time) {
		r.Name = prefix + r.Name
		r.Duration = time.Since(start)
		out = append(out, r)
	}
	start := time.Now()
	st, err := os.Stat(e.Mount)
	if err != nil || !st.IsDir() {
		msg := fmt.Sprintf("%s does not exist: is it mounted (check /etc/fstab, 'mount -a', the storage network)?", e.Mount)
		if err == nil {
			msg = e.Mount + " is not a directory"
		}
		r := check.Result{Name: "mount", Status: check.Fail, Observed: "missing", Expected: "a mounted filesystem", Message: msg}
		if o.AbsentOK && err != nil {
			r.Status, r.Message = check.Warn, e.Mount+" is not mounted in the agent ramdisk: measured once the OS is installed"
		}
		add(r, start)
		return out
	}
	m, found := mountOf(mounts, e.Mount)
	mr := check.Result{Name: "mount", Status: check.Pass, Expected: "a mount point"}
	switch {
	case msErr != nil:
		mr.Status, mr.Observed, mr.Message = check.Warn, "unknown", "cannot read mount table: "+msErr.Error()
	case !found:
		mr.Status, mr.Observed, mr.Message = check.Warn, "unknown", e.Mount+" is in no mount table entry"
	case filepath.Clean(m.Point) != filepath.Clean(e.Mount):
		mr.Status = check.Warn
		mr.Observed = fmt.Sprintf("directory on %s (%s %s)", m.Point, m.FSType, m.Device)
		mr.Message = fmt.Sprintf("%s is not a mount point: the figures below are for %s on %s; mount the storage at %s", e.Mount, m.Device, m.Point, e.Mount)
	default:
		mr.Observed = fmt.Sprintf("%s %s", m.FSType, m.Device)
	}
	add(mr, start)

	if found && m.IsNFS() {
		for _, r := range nfsChecks(m, mounts, e, o) {
			add(r, time.Now())
		}
	}

	if o.NoThroughput {
		return out
	}
	start = time.Now()
	p := o.Params
	if e.TestSizeMiB > 0 {
		p.Size = int64(e.TestSizeMiB) << 20
	}
	if e.TestSeconds > 0 {
		p.Duration = time.Duration(e.TestSeconds) * time.Second
	}
	t, err := Measure(ctx, e.Mount, p, !o.NoBuffered)
	switch {
	case errors.Is(err, ErrNoDirect):
		fs := "this filesystem"
		if found {
			fs = m.FSType
		}
		add(check.Result{Name: "write", Status: check.Fail, Observed: "O_DIRECT refused", Expected: minText(e.MinWriteMBps),
			Message: fmt.Sprintf("%s (%s) refuses O_DIRECT, so its throughput cannot be measured without the page cache; racklift does not fall back to buffered I/O: point the profile at a disk or network filesystem mount", e.Mount, fs)}, start)
		return out
	case ctx.Err() != nil:
		add(check.Result{Name: "write", Status: check.Fail, Message: "interrupted; test file " + t.File + " removed"}, start)
		return out
	case err != nil:
		add(check.Result{Name: "write", Status: check.Fail, Expected: minText(e.MinWriteMBps), Message: err.Error()}, start)
		return out
	}
	if found && (m.FSType == "tmpfs" || m.FSType == "ramfs") {
		add(check.Result{Name: "write", Status: check.Fail, Observed: fmt.Sprintf("%.0f MB/s on %s", t.WriteMBps(), m.FSType), Expected: minText(e.MinWriteMBps),
			Message: fmt.Sprintf("%s is %s, which keeps files in memory: its figures measure RAM, not storage; mount the real storage at %s", e.Mount, m.FSType, e.Mount)}, start)
		return out
	}
	add(rate("write", t.WriteMBps(), t.WriteBytes, t.WriteTime, e.MinWriteMBps, p), start)
	add(rate("read", t.ReadMBps(), t.ReadBytes, t.ReadTime, e.MinReadMBps, p), start)
	if !o.NoBuffered {
		add(bufferedResult(t, m, found, o), start)
	}
	return out
}

func minText(min float64) string {
	if min <= 0 {
		return "measured"
	}
	return fmt.Sprintf("≥ %.0f MB/s", min)
}

func rate(name string, v float64, n int64, d time.Duration, min float64, p Params) check.Result {
	r := check.Result{Name: name, Status: check.Pass, Expected: minText(min),
		Observed: fmt.Sprintf("%.0f MB/s (%d MiB in %.1fs, %d jobs, O_DIRECT)", v, n>>20, d.Seconds(), p.Jobs)}
	if min > 0 && v < min {
		r.Status = check.Fail
		r.Message = fmt.Sprintf("sequential %s %.0f MB/s is below the profile's minimum %.0f MB/s: check the device's PCIe link (lspci -vv LnkSta), RAID/array health, and for NFS the mount options and MTU", name, v, min)
	}
	return r
}

func bufferedResult(t Throughput, m Mount, found bool, o Options) check.Result {
	r := check.Result{Name: "buffered_read", Status: check.Pass, Expected: "close to the O_DIRECT read",
		Observed: fmt.Sprintf("%.0f MB/s single stream through the page cache", t.BufferedMBps())}
	if found && m.IsNFS() && t.ReadMBps() > 0 && t.BufferedMBps() < t.ReadMBps()/2 {
		r.Status = check.Warn
		r.Message = fmt.Sprintf("a single buffered reader gets %.0f MB/s against %.0f MB/s with O_DIRECT: readahead is too small for this mount (see the readahead check)", t.BufferedMBps(), t.ReadMBps())
	}
	return r
}

// nfsChecks inspects the settings that make NFS underperform without any error.
func nfsChecks(m Mount, all []Mount, e expect.Storage, o Options) []check.Result {
	var out []check.Result
	server := m.Server()

	if e.Nconnect > 0 {
		r := check.Result{Name: "nconnect", Status: check.Pass, Expected: fmt.Sprintf("%d connections", e.Nconnect),
			Observed: fmt.Sprintf("%d connection(s) (opts nconnect=%s)", m.Xprts, orDefault(m.Opts["nconnect"], "1"))}
		if m.Xprts < e.Nconnect {
			var first string
			var same []string
			for _, x := range all {
				if x.IsNFS() && x.Server() == server {
					same = append(same, x.Point)
					if first == "" {
						first = x.Point
					}
				}
			}
			r.Status = check.Warn
			r.Message = fmt.Sprintf("%s has %d TCP connection(s) to %s, the profile asks nconnect=%d", m.Point, m.Xprts, server, e.Nconnect)
			if len(same) > 1 {
				r.Message += fmt.Sprintf(": all mounts of %s (%s) share the connections of the first one mounted (%s); unmount all of them and mount %s first with nconnect=%d", server, strings.Join(same, ", "), first, first, e.Nconnect)
			} else {
				r.Message += fmt.Sprintf(": remount with -o nconnect=%d (kernel 5.3 or later)", e.Nconnect)
			}
		}
		out = append(out, r)
	}

	rs, _ := strconv.Atoi(m.Opts["rsize"])
	ws, _ := strconv.Atoi(m.Opts["wsize"])
	r := check.Result{Name: "rsize_wsize", Status: check.Pass, Expected: "rsize=wsize=1048576",
		Observed: fmt.Sprintf("rsize=%s,wsize=%s", orDefault(m.Opts["rsize"], "?"), orDefault(m.Opts["wsize"], "?"))}
	if rs < wantRWSize || ws < wantRWSize {
		r.Status = check.Warn
		r.Message = fmt.Sprintf("%s uses %s: each NFS request moves less than 1 MiB; mount with -o rsize=1048576,wsize=1048576 (the server may cap it lower)", m.Point, r.Observed)
	}
	out = append(out, r)

	ra := check.Result{Name: "readahead", Status: check.Pass, Expected: fmt.Sprintf("> %d KiB (e.g. %d)", defaultReadahead, suggestReadaheadK)}
	if maj, min, err := o.DevOf(m.Point); err != nil {
		ra.Status, ra.Observed, ra.Message = check.Warn, "unknown", "stat "+m.Point+": "+err.Error()
	} else {
		bdi := fmt.Sprintf("%d:%d", maj, min)
		file := filepath.Join(o.SysRoot, "class", "bdi", bdi, "read_ahead_kb")
		b, err := os.ReadFile(file)
		kb, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		switch {
		case err != nil || perr != nil:
			ra.Status, ra.Observed, ra.Message = check.Warn, "unknown", "cannot read "+file
		case kb <= defaultReadahead:
			ra.Status, ra.Observed = check.Warn, fmt.Sprintf("%d KiB", kb)
			ra.Message = fmt.Sprintf("NFS readahead on %s is %d KiB, the kernel default since Linux 5.4, which starves single-stream sequential reads: echo %d > /sys/class/bdi/%s/read_ahead_kb, and make it stick with nfsrahead (/etc/nfs.conf: [nfsrahead] nfs=%d nfs4=%d)", m.Point, kb, suggestReadaheadK, bdi, suggestReadaheadK, suggestReadaheadK)
		default:
			ra.Observed = fmt.Sprintf("%d KiB", kb)
		}
	}
	out = append(out, ra)

	if o.NetworkMTU > 0 && server != "" {
		mr := check.Result{Name: "mtu", Status: check.Pass, Expected: fmt.Sprintf("%d (storage network)", o.NetworkMTU)}
		iface, mtu, err := o.RouteMTU(server)
		switch {
		case err != nil:
			mr.Status, mr.Observed, mr.Message = check.Warn, "unknown", "route to "+server+": "+err.Error()
		case mtu < o.NetworkMTU:
			mr.Status, mr.Observed = check.Warn, fmt.Sprintf("%d on %s", mtu, iface)
			mr.Message = fmt.Sprintf("traffic to %s leaves via %s with MTU %d, the storage network's MTU is %d: set MTU %d on %s (netplan/ifcfg), and the same on the switch ports and the array", server, iface, mtu, o.NetworkMTU, o.NetworkMTU, iface)
		default:
			mr.Observed = fmt.Sprintf("%d on %s", mtu, iface)
		}
		out = append(out, mr)
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func statDev(path string) (uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev), nil
}

// routeMTU asks the kernel which interface reaches server and reads its MTU.
func routeMTU(server string) (string, int, error) {
	ip := net.ParseIP(server)
	if ip == nil {
		addrs, err := net.LookupIP(server)
		if err != nil || len(addrs) == 0 {
			return "", 0, fmt.Errorf("cannot resolve %s", server)
		}
		ip = addrs[0]
	}
	routes, err := netlink.RouteGet(ip)
	if err != nil || len(routes) == 0 {
		return "", 0, fmt.Errorf("no route to %s", ip)
	}
	l, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return "", 0, err
	}
	return l.Attrs().Name, l.Attrs().MTU, nil
}
