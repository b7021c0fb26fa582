package stats

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PressureStall is the "some" stall total of /proc/pressure/<resource> (cpu, io or
// memory): how long at least one task waited for it since boot. ok is false without
// PSI (kernels before 4.20, or CONFIG_PSI off).
func PressureStall(resource string) (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/pressure/" + resource)
	if err != nil {
		return 0, false
	}
	d, err = parseSomeTotal(b)
	return d, err == nil
}

// parseSomeTotal reads total= (µs) of the "some" line.
func parseSomeTotal(b []byte) (time.Duration, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("pressure total: %w", err)
				}
				return time.Duration(n) * time.Microsecond, nil
			}
		}
	}
	return 0, fmt.Errorf("pressure: no \"some ... total=\" line in %q", b)
}

// Pressure measures the share of a stretch of time in which some task waited for a
// CPU and for I/O: start it, then call Shares at the end.
type Pressure struct {
	start       time.Time
	cpu, io     time.Duration
	cpuOK, ioOK bool
}

// StartPressure reads the stall totals now.
func StartPressure() *Pressure {
	p := &Pressure{start: time.Now()}
	p.cpu, p.cpuOK = PressureStall("cpu")
	p.io, p.ioOK = PressureStall("io")
	return p
}

// Shares are the CPU and I/O stall time since StartPressure over the wall time, each
// 0 where PSI is absent.
func (p *Pressure) Shares() (cpu, io float64) {
	wall := time.Since(p.start)
	if wall <= 0 {
		return 0, 0
	}
	share := func(res string, before time.Duration, ok bool) float64 {
		if !ok {
			return 0
		}
		now, ok := PressureStall(res)
		if !ok {
			return 0
		}
		return float64(now-before) / float64(wall)
	}
	return share("cpu", p.cpu, p.cpuOK), share("io", p.io, p.ioOK)
}
