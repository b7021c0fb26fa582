package stats

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SelfCPU is this process's user+system CPU time (children it started not counted).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ExitedCPU is the user+system CPU time of a process that has exited.
func ExitedCPU(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

// ProcCPU is a running process's user+system CPU time with that of its children it
// has reaped (in.tftpd forks one per transfer), from /proc/<pid>/stat; 0 when it
// cannot be read.
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	d, _ := parseStatCPU(b)
	return d
}

// parseStatCPU sums utime, stime, cutime and cstime (fields 14-17, in USER_HZ ticks of
// 10 ms on Linux). The command name (field 2) may hold spaces and parentheses: fields
// are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("stat: no command field in %q", s)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields after the command, want at least 15", len(f))
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat field %d: %w", k+3, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
