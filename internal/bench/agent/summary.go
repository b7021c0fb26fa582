package agent

import "github.com/racklift/racklift/internal/bench/stats"

// summarise fills in the medians, spreads, ratios and the verdict.
func summarise(rep *Report) {
	col := func(f func(Round) float64) []float64 {
		var xs []float64
		for _, r := range rep.PerRound {
			xs = append(xs, f(r))
		}
		return xs
	}
	side := func(w, r []float64, cpu float64) Side {
		gb := float64(2*len(rep.PerRound)) * float64(rep.SizeBytes) / 1e9
		return Side{WriteMBps: stats.Median(w), ReadMBps: stats.Median(r), WriteSpread: stats.Spread(w), ReadSpread: stats.Spread(r), CPUPerGB: cpu / gb}
	}
	var agentCPU, fioCPU float64
	for _, r := range rep.PerRound {
		agentCPU, fioCPU = agentCPU+r.AgentCPU, fioCPU+r.FioCPU
	}
	rep.Agent = side(col(func(r Round) float64 { return r.AgentWrite }), col(func(r Round) float64 { return r.AgentRead }), agentCPU)
	rep.Fio = side(col(func(r Round) float64 { return r.FioWrite }), col(func(r Round) float64 { return r.FioRead }), fioCPU)
	rep.WriteRatioOfMedians = stats.Ratio(rep.Agent.WriteMBps, rep.Fio.WriteMBps)
	rep.ReadRatioOfMedians = stats.Ratio(rep.Agent.ReadMBps, rep.Fio.ReadMBps)
	wr, rr := col(func(r Round) float64 { return r.WriteRatio }), col(func(r Round) float64 { return r.ReadRatio })
	rep.WriteRatio, rep.ReadRatio = stats.Median(wr), stats.Median(rr)
	rep.WriteRatioCI, rep.ReadRatioCI = stats.MedianCI(wr), stats.MedianCI(rr)
	rep.WritePass, rep.ReadPass = withinGoal(rep.WriteRatio), withinGoal(rep.ReadRatio)
	rep.Goal = "MISS"
	if rep.WritePass && rep.ReadPass {
		rep.Goal = "PASS"
	}
}

func withinGoal(r float64) bool { return r >= 1-Goal && r <= 1+Goal }
