package agent

import "testing"

func TestBenchVerdict(t *testing.T) {
	rep := &Report{SizeBytes: 1e9, PerRound: []Round{
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
