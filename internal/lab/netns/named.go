package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	vnetns "github.com/vishvananda/netns"
)

// runDir is where `ip netns` and vishvananda/netns bind-mount named namespaces.
const runDir = "/run/netns"

// Exists reports whether a named namespace is there.
func Exists(name string) bool {
	_, err := os.Stat(filepath.Join(runDir, name))
	return err == nil
}

// Delete removes a named namespace left behind by a process that died; a missing one is
// not an error. Processes still inside keep it alive, nameless: kill them first (PIDs).
func Delete(name string) error {
	if !Exists(name) {
		return nil
	}
	if err := vnetns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// PIDs lists the processes running inside a named namespace (`ip netns pids`).
func PIDs(name string) ([]int, error) {
	if !Exists(name) {
		return nil, nil
	}
	out, err := exec.Command("ip", "netns", "pids", name).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}
