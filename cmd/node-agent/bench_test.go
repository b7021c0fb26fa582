package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

// bench runs both tools with the same parameters on the same file and removes it.
func TestBenchComparesWithFio(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	testenv.NeedCommand(t, "fio")
	dir := t.TempDir()
	out, err := exec.Command(bin, "bench", "--dir", dir, "--size", "32M", "--jobs", "2", "--rounds", "2", "-o", "json").Output()
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	var r benchReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(r.AgentRuns) != 2 || len(r.FioRuns) != 2 || r.Agent.WriteMBps <= 0 || r.Fio.WriteMBps <= 0 || r.Agent.ReadMBps <= 0 || r.Fio.ReadMBps <= 0 || r.WriteRatio <= 0 {
		t.Fatalf("%+v", r)
	}
	want := []string{"--rw=write", "--bs=1048576", "--direct=1", "--ioengine=psync", "--numjobs=2", "--size=16777216", "--offset_increment=16777216"}
	for _, w := range want {
		found := false
		for _, a := range r.FioCommand {
			found = found || a == w
		}
		if !found {
			t.Errorf("fio command %v lacks %s", r.FioCommand, w)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatal(m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatal(m)
	}
}
