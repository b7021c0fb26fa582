package gpu

import (
	"fmt"
	"strconv"
	"strings"
)

// compareVersions compares dotted versions numerically ("550.54.15" > "535.183.1",
// "12.10" > "12.4"); a missing part counts as 0. Non-numeric parts are an error.
func compareVersions(a, b string) (int, error) {
	pa, err := versionParts(a)
	if err != nil {
		return 0, err
	}
	pb, err := versionParts(b)
	if err != nil {
		return 0, err
	}
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

func versionParts(v string) ([]int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("empty version")
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q: %q is not a number", v, p)
		}
		out = append(out, n)
	}
	return out, nil
}

// cudaVersion renders NVML's CUDA driver version integer (12040) as "12.4".
func cudaVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
}
