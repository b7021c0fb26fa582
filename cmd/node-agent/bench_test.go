package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	agentbench "github.com/racklift/racklift/internal/bench/agent"
	"github.com/racklift/racklift/internal/bench/stats"
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
	var r agentbench.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Rounds != 2 || len(r.PerRound) != 2 || r.Warmup.FioWrite <= 0 {
		t.Fatalf("rounds: %+v", r)
	}
	for _, x := range append(r.PerRound, r.Warmup) {
		if x.AgentWrite <= 0 || x.FioWrite <= 0 || x.AgentRead <= 0 || x.FioRead <= 0 {
			t.Fatalf("round %d: %+v", x.Round, x)
		}
	}
	if r.PerRound[0].First == r.PerRound[1].First {
		t.Errorf("both rounds started with %s: the order must alternate", r.PerRound[0].First)
	}
	if want := stats.Median([]float64{r.PerRound[0].WriteRatio, r.PerRound[1].WriteRatio}); r.WriteRatio != want || r.Goal != map[bool]string{true: "PASS", false: "MISS"}[r.WritePass && r.ReadPass] {
		t.Errorf("write ratio %v, want the median of the round ratios %v; goal %s", r.WriteRatio, want, r.Goal)
	}
	want := []string{"--rw=write", "--bs=1048576", "--direct=1", "--ioengine=psync", "--iodepth=1", "--numjobs=2", "--size=16777216", "--offset_increment=16777216", "--end_fsync=1"}
	for _, w := range want {
		found := false
		for _, a := range r.FioWrite {
			found = found || a == w
		}
		if !found {
			t.Errorf("fio command %v lacks %s", r.FioWrite, w)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
