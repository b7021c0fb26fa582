package netns

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
)

// A test binary killed before its cleanups leaves its namespaces (issue 14 item 7: two
// rl-t-<pid>-N were left after `make test`); the next run sweeps those of exited
// processes, killing what still runs inside, and leaves live processes' alone.
func TestSweepStale(t *testing.T) {
	testenv.NeedRoot(t)
	old := minStale
	minStale = 0 // the namespaces made here are new
	t.Cleanup(func() { minStale = old })
	// A process that has exited: a child we ran and waited for.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("rl-sw-%d-1", dead.Process.Pid)
	live := fmt.Sprintf("rl-sw-%d-2", os.Getpid())
	for _, name := range []string{stale, live} {
		ns, err := Create(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.nl.Close()
		ns.handle.Close()
		t.Cleanup(func() { Delete(name) })
	}
	// A process still inside the stale one, as a leftover server would be.
	sleeper := exec.Command("ip", "netns", "exec", stale, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleeper.Wait() }()
	t.Cleanup(func() { sleeper.Process.Kill(); <-waited })
	// `ip netns exec` enters the namespace after it starts: sweeping before it has would
	// find no process to kill (CI saw exactly that, then waited out the sleep).
	inside := func() bool {
		pids, _ := PIDs(stale)
		return slices.Contains(pids, sleeper.Process.Pid)
	}
	for deadline := time.Now().Add(10 * time.Second); !inside(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d never entered %s", sleeper.Process.Pid, stale)
		}
	}
	if err := SweepStale("sw"); err != nil {
		t.Fatal(err)
	}
	if Exists(stale) {
		t.Errorf("%s of exited process %d is still there", stale, dead.Process.Pid)
	}
	if !Exists(live) {
		t.Errorf("%s of this live process was swept", live)
	}
	select {
	case err := <-waited:
		waited <- err // for the cleanup
		if err == nil {
			t.Error("the process inside the stale namespace exited cleanly instead of being killed")
		}
	case <-time.After(10 * time.Second):
		t.Error("the process inside the stale namespace was not killed")
	}
}
