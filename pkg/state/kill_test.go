package state

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestKilledWriterLosesNothingAcknowledged runs a writer in a child process, SIGKILLs it
// mid-stream and checks that every event it reported as committed is in the reopened log.
// A SIGKILL leaves the page cache alone, so this passes even without fsync (NoSync):
// TestPowerCutLosesNothingAcknowledged (durability_test.go) is the one that catches that.
func TestKilledWriterLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "RACKLIFT_STATE_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	var acked uint64
	for sc.Scan() {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue // test framework chatter
		}
		if seq != acked+1 {
			t.Fatalf("the writer acknowledged %d after %d", seq, acked)
		}
		acked = seq
		if acked >= 20 {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred Close runs
		t.Fatal(err)
	}
	cmd.Wait()
	if acked < 20 {
		t.Fatalf("writer acknowledged only %d events before exiting", acked)
	}

	s := open(t, dir)
	defer s.Close()
	evs, err := s.Events(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) < acked {
		t.Fatalf("after SIGKILL the log holds %d events, but %d were acknowledged", len(evs), acked)
	}
	n, err := s.Get("killed")
	if err != nil {
		t.Fatal(err)
	}
	if uint64(n.Attempt) != uint64(len(evs)) {
		t.Errorf("node counter %d disagrees with %d logged events: a record and its events were not written together", n.Attempt, len(evs))
	}
}

// TestHelperWriter is the child of TestKilledWriterLosesNothingAcknowledged. Run on its
// own it skips (it is not a test there); as the child it checks what each commit
// returned before acknowledging it: sequence numbers one apart and the record read
// back carrying the counter of its event, so the parent only counts commits that
// were whole.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("RACKLIFT_STATE_HELPER_DIR")
	if dir == "" {
		t.Skip("the child process of TestKilledWriterLosesNothingAcknowledged")
	}
	noSync = os.Getenv("RACKLIFT_STATE_HELPER_NOSYNC") == "1"
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); ; want++ {
		evs, err := s.Update("killed", func(n *Node) ([]Event, error) {
			n.Attempt++
			return []Event{{Kind: "tick"}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Seq != want || evs[0].Node != "killed" {
			t.Fatalf("commit %d returned %+v; want one event of node killed with seq %d", want, evs, want)
		}
		n, err := s.Get("killed")
		if err != nil {
			t.Fatal(err)
		}
		if uint64(n.Attempt) != want {
			t.Fatalf("after commit %d the record reads attempt %d", want, n.Attempt)
		}
		fmt.Println(evs[0].Seq) // acknowledged: the commit has been fsynced
	}
}
