// Package loadavg reads the load average the benchmarks print beside their figures: on a
// shared machine a wall time means little without it.
package loadavg

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Read returns /proc/loadavg's 1-, 5- and 15-minute figures.
func Read() ([3]float64, error) {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("/proc/loadavg: unexpected %q", b)
	}
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return l, fmt.Errorf("/proc/loadavg: %w", err)
		}
	}
	return l, nil
}

// String is the three figures as /proc/loadavg writes them, or "unknown".
func String() string {
	l, err := Read()
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}
