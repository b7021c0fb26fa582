package rack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
)

// PIDFile, in the rack's Dir, records the namespace and every process the rack started,
// for Down after a crash: "netns NAME" then "PID KIND NODE" lines.
const PIDFile = "rack.pids"

type pidFile struct {
	path string
	mu   sync.Mutex
}

func (p *pidFile) reset(ns string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return os.WriteFile(p.path, []byte("netns "+ns+"\n"), 0o644)
}

func (p *pidFile) add(pid int, kind, node string) {
	if pid <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %s %s\n", pid, kind, node)
}

func (p *pidFile) remove() {
	p.mu.Lock()
	defer p.mu.Unlock()
	os.Remove(p.path)
}

// Down removes a rack whose process was killed: it ends the QEMU and ipmi_sim processes
// recorded in dir and every process still inside the namespace, then deletes the
// namespace. netnsName "" takes the name recorded in dir (else DefaultNetNS). Nothing
// there is not an error.
func Down(netnsName, dir string) error {
	var recorded []int
	if f, err := os.Open(filepath.Join(dir, PIDFile)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			switch {
			case len(fs) == 2 && fs[0] == "netns":
				if netnsName == "" {
					netnsName = fs[1]
				}
			case len(fs) >= 2:
				pid, err := strconv.Atoi(fs[0])
				if err == nil && isOurs(pid, fs[1]) {
					recorded = append(recorded, pid)
				}
			}
		}
		f.Close()
	}
	if netnsName == "" {
		netnsName = DefaultNetNS
	}
	inside, err := netns.PIDs(netnsName)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	kill(append(recorded, inside...))
	os.RemoveAll(LLDPDir(netnsName)) // the switch ports' lldpd sockets (lldp.go)
	if err := netns.Delete(netnsName); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		os.Remove(filepath.Join(dir, PIDFile))
	}
	return errors.Join(errs...)
}

// KillInside ends every process inside the named namespace (SIGTERM, then SIGKILL after
// 3 s), e.g. a provision serve started there, before the process holding the rack is
// stopped: once the namespace is deleted its processes can no longer be found by name.
func KillInside(netnsName string) error {
	pids, err := netns.PIDs(netnsName)
	kill(pids)
	return err
}

// isOurs checks that a recorded PID still runs the program recorded, not a reused PID.
func isOurs(pid int, kind string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	prog := filepath.Base(strings.SplitN(string(b), "\x00", 2)[0])
	switch kind {
	case "qemu":
		return strings.HasPrefix(prog, "qemu-system")
	case "ipmi_sim":
		return prog == "ipmi_sim"
	}
	return false
}

// kill sends SIGTERM, waits up to 3 s, then SIGKILL to what is left.
func kill(pids []int) {
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		alive := false
		for _, p := range pids {
			if syscall.Kill(p, 0) == nil && !zombie(p) {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	time.Sleep(200 * time.Millisecond)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}
