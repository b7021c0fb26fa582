package netns

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

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
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	if err := SweepStale("sw"); err != nil {
		t.Fatal(err)
	}
	if Exists(stale) {
		t.Errorf("%s of exited process %d is still there", stale, dead.Process.Pid)
	}
	if !Exists(live) {
		t.Errorf("%s of this live process was swept", live)
	}
	if err := sleeper.Wait(); err == nil {
		t.Error("the process inside the stale namespace was not killed")
	}
}
