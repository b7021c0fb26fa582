package gpu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// xidMeaning gives the usual cause of the Xids ops engineers meet most.
var xidMeaning = map[int]string{
	13:  "graphics engine exception (usually the application)",
	31:  "GPU memory page fault (usually the application)",
	43:  "GPU stopped processing (usually the application)",
	45:  "preemptive cleanup after an earlier error",
	48:  "double-bit ECC error: reset the GPU; RMA if it recurs",
	63:  "row remapping event: reset the GPU to apply it",
	64:  "row remapping failure: RMA the GPU",
	74:  "NVLink error: check the NVLink cable/tray and NVSwitch",
	79:  "GPU has fallen off the bus: power-cycle, reseat, check PCIe riser and power",
	92:  "high single-bit ECC error rate: watch it; RMA if it persists",
	94:  "contained ECC error: reset the GPU",
	95:  "uncontained ECC error: reset the GPU; RMA if it recurs",
	119: "GSP firmware timeout: reset the GPU or reboot; update the driver",
	120: "GSP firmware error: reset the GPU or reboot; update the driver",
}

// xid is one Xid seen, from NVML events or the kernel log.
type xid struct {
	Code   int
	Where  string // GPU label or PCI address
	Bus    string // canonical PCI address when known
	Source string // "kernel log" or "NVML event"
	Age    time.Duration
}

var xidLine = regexp.MustCompile(`NVRM: Xid \(PCI:([0-9A-Fa-f:.]+)\): (\d+),`)
var kmsgPrefix = regexp.MustCompile(`^\d+,\d+,(\d+),[^;]*;`)
var dmesgStamp = regexp.MustCompile(`^\[\s*(\d+)\.(\d+)\]`)

// parseKernelXids finds Xid lines in /dev/kmsg records (or plain dmesg lines) no older
// than window; lines without a timestamp count as recent.
func parseKernelXids(log []byte, uptime time.Duration, window time.Duration) []xid {
	var out []xid
	for _, line := range strings.Split(string(log), "\n") {
		m := xidLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		age := time.Duration(-1)
		if p := kmsgPrefix.FindStringSubmatch(line); p != nil {
			if us, err := strconv.ParseInt(p[1], 10, 64); err == nil {
				age = uptime - time.Duration(us)*time.Microsecond
			}
		} else if p := dmesgStamp.FindStringSubmatch(line); p != nil {
			s, _ := strconv.ParseInt(p[1], 10, 64)
			age = uptime - time.Duration(s)*time.Second
		}
		if age > window {
			continue
		}
		code, _ := strconv.Atoi(m[2])
		bus := canonicalBusID(m[1])
		out = append(out, xid{Code: code, Where: bus, Bus: bus, Source: "kernel log", Age: age})
	}
	return out
}

// ReadKmsg reads the kernel ring buffer from /dev/kmsg without blocking: one record per
// read, EAGAIN at the end.
func ReadKmsg() ([]byte, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kmsg: %w", err)
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 16384)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) { // records overwritten while reading: go on
			continue
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return out, nil
			}
			return out, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

func procUptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/uptime is empty")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	return time.Duration(s * float64(time.Second)), err
}

// nvmlXids listens for Xid events on every GPU for the window.
func nvmlXids(ctx context.Context, lib nvml.Interface, devs []device, window time.Duration) ([]xid, error) {
	if window <= 0 || len(devs) == 0 {
		return nil, nil
	}
	set, ret := lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return nil, errors.New(callErr("EventSetCreate", ret))
	}
	defer set.Free()
	byHandle := map[nvml.Device]device{}
	registered := 0
	for _, d := range devs {
		sup, ret := d.Dev.GetSupportedEventTypes()
		if ret != nvml.SUCCESS || sup&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		if ret := d.Dev.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret == nvml.SUCCESS {
			registered++
			byHandle[d.Dev] = d
		}
	}
	if registered == 0 {
		return nil, nil
	}
	var out []xid
	deadline := time.Now().Add(window)
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		ev, ret := set.Wait(uint32(min(left, 500*time.Millisecond).Milliseconds()) + 1)
		if ret == nvml.ERROR_TIMEOUT {
			continue
		}
		if ret != nvml.SUCCESS {
			return out, errors.New(callErr("EventSetWait", ret))
		}
		if ev.EventType&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		x := xid{Code: int(ev.EventData), Where: "a GPU", Source: "NVML event"}
		if d, ok := byHandle[ev.Device]; ok {
			x.Where, x.Bus = d.label(), d.BusID
		}
		out = append(out, x)
	}
	return out, nil
}

func checkXID(ctx context.Context, o Options, devs []device, exp *expect.GPU) check.Result {
	ignore := exp.XIDIgnore
	if ignore == nil {
		ignore = DefaultXIDIgnore
	}
	r := check.Result{Status: check.Pass, Expected: fmt.Sprintf("no Xid in the last %s (ignoring %v)", o.XIDHistory, ignore)}
	var notes []string
	var all []xid
	if log, err := o.KernelLog(); err != nil {
		r.Status = check.Warn
		notes = append(notes, "kernel log not readable ("+err.Error()+"): run node-agent as root to see Xid history")
	} else {
		up, err := o.Uptime()
		if err != nil {
			up = 0
		}
		all = append(all, parseKernelXids(log, up, o.XIDHistory)...)
	}
	ev, err := nvmlXids(ctx, o.Lib, devs, o.XIDWindow)
	if err != nil {
		r.Status = check.Warn
		notes = append(notes, "NVML events: "+err.Error())
	}
	all = append(all, ev...)
	var bad, ignored []string
	for _, x := range all {
		if o.OnXID != nil {
			o.OnXID(x.Bus, x.Code)
		}
		desc := fmt.Sprintf("Xid %d on %s (%s", x.Code, x.Where, x.Source)
		if x.Age >= 0 && x.Source == "kernel log" {
			desc += fmt.Sprintf(", %s ago", x.Age.Round(time.Second))
		}
		desc += ")"
		if slices.Contains(ignore, x.Code) {
			ignored = append(ignored, desc)
			continue
		}
		if m, ok := xidMeaning[x.Code]; ok {
			desc += ": " + m
		}
		bad = append(bad, desc)
	}
	switch {
	case len(bad) > 0:
		r.Status = check.Fail
		r.Observed = fmt.Sprintf("%d Xid(s)", len(bad))
		notes = append([]string{strings.Join(bad, "; ")}, notes...)
	default:
		r.Observed = "none"
	}
	if len(ignored) > 0 {
		r.Observed += fmt.Sprintf(", %d ignored", len(ignored))
	}
	r.Message = strings.Join(notes, "; ")
	return r
}
