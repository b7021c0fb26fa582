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
	if want := median([]float64{r.PerRound[0].WriteRatio, r.PerRound[1].WriteRatio}); r.WriteRatio != want || r.Goal != map[bool]string{true: "PASS", false: "MISS"}[r.WritePass && r.ReadPass] {
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

func TestMedianAndSpread(t *testing.T) {
	for _, tc := range []struct {
		xs             []float64
		median, spread float64
	}{
		{[]float64{3, 1, 2}, 2, 0.5},
		{[]float64{4, 1, 2, 3}, 2.5, 0.6},
		{[]float64{10, 10, 10, 10, 50}, 10, 0},
		{nil, 0, 0},
	} {
		if m, s := median(tc.xs), spread(tc.xs); m != tc.median || s != tc.spread {
			t.Errorf("%v: median %v spread %v, want %v %v", tc.xs, m, s, tc.median, tc.spread)
		}
	}
}

func TestMedianCI(t *testing.T) {
	var xs []float64
	for i := 24; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	// n=24: P(X ≤ 6) = 1.1 %, P(X ≤ 7) = 3.2 %: from the 7th smallest to the 7th largest.
	if ci := medianCI(xs); ci != [2]float64{7, 18} {
		t.Errorf("n=24: %v, want [7 18]", ci)
	}
	// n=9: P(X ≤ 1) = 2.0 %, P(X ≤ 2) = 9.0 %.
	if ci := medianCI(xs[:9]); ci != [2]float64{17, 23} {
		t.Errorf("n=9: %v, want [17 23]", ci)
	}
	// n=5: even the extremes cover only 93.75 %: the whole range.
	if ci := medianCI([]float64{5, 1, 3, 2, 4}); ci != [2]float64{1, 5} {
		t.Errorf("n=5: %v, want [1 5]", ci)
	}
}

func TestBenchVerdict(t *testing.T) {
	rep := &benchReport{SizeBytes: 1e9, PerRound: []benchRound{
		{AgentWrite: 100, FioWrite: 100, AgentRead: 100, FioRead: 120},
		{AgentWrite: 190, FioWrite: 200, AgentRead: 160, FioRead: 200},
		{AgentWrite: 600, FioWrite: 200, AgentRead: 170, FioRead: 200},
	}}
	for i := range rep.PerRound {
		r := &rep.PerRound[i]
		r.WriteRatio, r.ReadRatio = r.AgentWrite/r.FioWrite, r.AgentRead/r.FioRead
	}
	summarise(rep)
	// One outlier round does not move the median write ratio (0.95, 1, 3); read is 0.83,
	// 0.8, 0.85: a miss. The ratios of the medians are there for comparison.
	if rep.WriteRatio != 1 || !rep.WritePass || rep.ReadRatio != 0.8333333333333334 || rep.ReadPass || rep.Goal != "MISS" {
		t.Fatalf("%+v", rep)
	}
	if rep.Agent.WriteMBps != 190 || rep.Fio.WriteMBps != 200 || rep.WriteRatioOfMedians != 0.95 || rep.ReadRatioOfMedians != 0.8 {
		t.Fatalf("medians: %+v", rep)
	}
	for _, x := range []float64{0.9, 1.1, 1} {
		if !withinGoal(x) {
			t.Errorf("%v is within ±10%%", x)
		}
	}
	for _, x := range []float64{0.89, 1.11, 0} {
		if withinGoal(x) {
			t.Errorf("%v is outside ±10%%", x)
		}
	}
}
