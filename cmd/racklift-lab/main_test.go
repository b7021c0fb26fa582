package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/testenv"
)

// racklift-lab as the demo uses it: up --detach returns once ready, counts follows an
// ipmitool power on, a second up is refused, and down cleans up after a SIGKILLed up.
func TestUpCountsDown(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "ipmi_sim", "ipmitool", "mkfs.ext4")
	bin := filepath.Join(testenv.Bin(t), "racklift-lab")
	testenv.NeedFile(t, bin)
	t.Parallel()
	const password = "cli-test-pw"
	dir, name := t.TempDir(), netns.Name("labcli")
	t.Cleanup(func() { rack.KillInside(name); rack.Down(name, dir) })
	lab := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--dir", dir, "--netns", name)...)
		cmd.Env = append(os.Environ(), "RACKLIFT_CRED_LAB_BMC_PASSWORD="+password)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	inv := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab")
	out, err := lab("up", "-i", inv, "--detach", "--memory", "128")
	if err != nil {
		t.Fatalf("up --detach: %v\n%s", err, out)
	}
	if !strings.Contains(out, "https://127.0.0.1:8441") || !strings.Contains(out, "ipmi://127.0.0.1:9623") || !netns.Exists(name) {
		t.Errorf("up --detach said:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, logFile))
	if strings.Contains(out+string(log), password) {
		t.Error("up printed the BMC password")
	}
	counts := func() []rack.NodeStatus {
		t.Helper()
		out, err := lab("counts", "-o", "json")
		if err != nil {
			t.Fatalf("counts: %v\n%s", err, out)
		}
		var ns []rack.NodeStatus
		if err := json.Unmarshal([]byte(out), &ns); err != nil {
			t.Fatalf("counts -o json: %v\n%s", err, out)
		}
		return ns
	}
	if c := counts(); len(c) != 3 || c[2].Name != "lab-03" || c[2].PowerCycles != 0 || c[2].Power != "off" {
		t.Fatalf("counts before any power on: %+v", c)
	}
	ipmi := exec.Command("ip", "netns", "exec", name, "ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", "9623",
		"-U", "admin", "-E", "-C", "3", "chassis", "power", "on")
	ipmi.Env = []string{"IPMITOOL_PASSWORD=" + password, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := ipmi.CombinedOutput(); err != nil {
		t.Fatalf("ipmitool power on in %s: %v\n%s", name, err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c := counts(); c[2].PowerCycles != 1 || c[2].Power != "on"; c = counts() {
		if time.Now().After(deadline) {
			t.Fatalf("counts after ipmitool power on of lab-03: %+v", c)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out, err := lab("up", "-i", inv); err == nil || !strings.Contains(out, "already up") {
		t.Errorf("second up: %v\n%s", err, out)
	}

	b, _ := os.ReadFile(filepath.Join(dir, pidFile))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, syscall.SIGKILL) != nil {
		t.Fatalf("up's pid file: %q", b)
	}
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !netns.Exists(name) {
		t.Fatal("namespace gone with up: down has nothing to show")
	}
	if out, err := lab("down"); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if netns.Exists(name) {
		t.Errorf("namespace %s left after down", name)
	}
	if out, err := lab("counts"); err == nil {
		t.Errorf("counts after down: %s", out)
	}
	if out, err := lab("down"); err != nil {
		t.Errorf("down with nothing there: %v\n%s", err, out)
	}
}
