package agent

import (
	"bufio"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/check"
)

// where is what a report says about the system the agent runs on: the boot source
// (from the stage it was started in: the ramdisk's agent says ramdisk, the installed
// daemon disk), the OS's PRETTY_NAME and the kernel release. The server bounds and
// sanitizes them like every string it is sent.
type where struct{ source, os, kernel string }

func whereRunning(stage string) where {
	w := where{source: check.BootDisk, os: prettyName("/etc/os-release"), kernel: kernelRelease()}
	if stage == "ramdisk" {
		w.source = check.BootRamdisk
	}
	return w
}

func (w where) stamp(r *check.Report) {
	r.BootSource, r.OS, r.Kernel = w.source, w.os, w.kernel
}

// prettyName is os-release's PRETTY_NAME (os-release(5)), or "" when there is none (a
// busybox ramdisk).
func prettyName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == "PRETTY_NAME" {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
