package storage

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Mount is one entry of /proc/self/mountstats.
type Mount struct {
	Device string // "10.0.0.5:/export" for NFS, "/dev/nvme0n1p1" otherwise
	Point  string
	FSType string
	Opts   map[string]string // NFS "opts:" line; a flag without '=' maps to ""
	Xprts  int               // NFS "xprt:" lines: the TCP/RDMA connections actually open
}

// IsNFS reports whether the mount is an NFS mount.
func (m Mount) IsNFS() bool { return m.FSType == "nfs" || m.FSType == "nfs4" }

// Server is the NFS server the mount talks to: the addr= option, else the device's host.
func (m Mount) Server() string {
	if a := m.Opts["addr"]; a != "" {
		return a
	}
	host, _, ok := strings.Cut(m.Device, ":/")
	if !ok {
		return ""
	}
	return strings.Trim(host, "[]")
}

// ParseMountstats reads /proc/self/mountstats.
func ParseMountstats(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "device ") {
			// device SRC mounted on POINT with fstype TYPE [statvers=...]
			f := strings.Fields(line)
			if len(f) < 8 || f[2] != "mounted" || f[3] != "on" {
				return out, fmt.Errorf("mountstats: unexpected line %q", line)
			}
			// Mount points with spaces are escaped (\040) by the kernel, so fields hold.
			out = append(out, Mount{Device: f[1], Point: unescape(f[4]), FSType: f[7], Opts: map[string]string{}})
			continue
		}
		if len(out) == 0 {
			continue
		}
		m := &out[len(out)-1]
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "opts:"):
			for _, o := range strings.Split(strings.TrimSpace(strings.TrimPrefix(t, "opts:")), ",") {
				k, v, _ := strings.Cut(o, "=")
				m.Opts[k] = v
			}
		case strings.HasPrefix(t, "xprt:"):
			m.Xprts++
		}
	}
	return out, sc.Err()
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// mountOf finds the mount holding path: the longest mount point that is a prefix.
func mountOf(ms []Mount, path string) (Mount, bool) {
	path = filepath.Clean(path)
	best := -1
	for i, m := range ms {
		p := filepath.Clean(m.Point)
		if path == p || p == "/" || strings.HasPrefix(path, p+"/") {
			// Later entries shadow earlier ones on the same point (mounted over).
			if best < 0 || len(p) >= len(ms[best].Point) {
				best = i
			}
		}
	}
	if best < 0 {
		return Mount{}, false
	}
	return ms[best], true
}
