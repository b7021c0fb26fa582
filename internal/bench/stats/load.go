package stats

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LoadAverage returns /proc/loadavg's 1-, 5- and 15-minute figures.
func LoadAverage() ([3]float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}, err
	}
	return parseLoadavg(b)
}

func parseLoadavg(b []byte) ([3]float64, error) {
	var l [3]float64
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("/proc/loadavg: unexpected %q", b)
	}
	for i := range l {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return [3]float64{}, fmt.Errorf("/proc/loadavg: %w", err)
		}
		l[i] = v
	}
	return l, nil
}

// LoadString is the three figures as /proc/loadavg writes them, or "unknown".
func LoadString() string {
	l, err := LoadAverage()
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

// Load1 is the 1-minute figure as "%.2f", or "unknown".
func Load1() string {
	l, err := LoadAverage()
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f", l[0])
}
