package netns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var sweepOnce sync.Once

// minStale is how old a namespace of an exited process must be before it is swept.
var minStale = time.Hour

// SweepStale deletes the namespaces "rl-<prefix>-<pid>-<n>" whose creating process is
// gone: a test binary killed by `go test -timeout` or SIGKILL runs no cleanup, and its
// namespaces (with any process still inside holding them) outlive it. Processes still
// inside are killed first, so the namespace is really freed.
func SweepStale(prefix string) error {
	ents, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "rl-"+prefix+"-")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		// Only old ones: a process in another PID namespace (another container sharing
		// /run/netns) looks gone from here while its test still runs.
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < minStale {
			continue
		}
		if pids, err := PIDs(e.Name()); err == nil {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if err := Delete(e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("stale namespace %s of exited process %d: %w", e.Name(), pid, err))
		}
	}
	return errors.Join(errs...)
}

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
