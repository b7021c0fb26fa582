package agent

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/racklift/racklift/internal/bench/stats"
	"github.com/racklift/racklift/pkg/output"
)

// WriteTable prints the report as `node-agent bench` does without -o: the setup, every
// round, the medians and spreads, and the verdict with what a miss means.
func (r *Report) WriteTable(w io.Writer) error {
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	mb := func(x float64) string { return fmt.Sprintf("%.0f", x) }
	rt := func(x float64) string { return fmt.Sprintf("%.2f", x) }
	fmt.Fprintf(w, "node-agent bench: the agent's O_DIRECT write and read against fio's, same file, same I/O\n")
	fmt.Fprintf(w, "  file    %s, %d MiB, laid out once (timed passes overwrite allocated blocks)\n", r.File, r.SizeBytes>>20)
	fmt.Fprintf(w, "  I/O     O_DIRECT, %d KiB blocks, %d streams × 1 request in flight, each on its own %d MiB region;\n", r.BlockSize>>10, r.Jobs, r.SizeBytes/int64(r.Jobs)>>20)
	fmt.Fprintf(w, "          each write stream ends with fsync, timed; bound %d MiB or %s per pass\n", r.SizeBytes>>20, r.Limit)
	fmt.Fprintf(w, "  fio     %s\n          (read: the same with --rw=read)\n", strings.Join(r.FioWrite, " "))
	fmt.Fprintf(w, "  rounds  1 warm-up (not counted) + %d; per round both write, then both read; first alternates\n", r.Rounds)
	fmt.Fprintf(w, "  machine %d CPUs, load average %.1f at start, %.1f at end; during the run some task waited for CPU %s and for I/O %s of the time\n\n",
		r.Load.CPUs, r.Load.Start[0], r.Load.End[0], pct(r.Load.CPUPressure), pct(r.Load.IOPressure))

	t := output.Rows{Header: []string{"ROUND", "FIRST", "AGENT WRITE", "FIO WRITE", "RATIO", "AGENT READ", "FIO READ", "RATIO"}}
	row := func(name string, x Round) {
		t.Add(name, x.First, mb(x.AgentWrite), mb(x.FioWrite), rt(x.WriteRatio), mb(x.AgentRead), mb(x.FioRead), rt(x.ReadRatio))
	}
	row("warm-up", r.Warmup)
	for _, x := range r.PerRound {
		row(strconv.Itoa(x.Round), x)
	}
	t.Add("median", "", mb(r.Agent.WriteMBps), mb(r.Fio.WriteMBps), rt(r.WriteRatio), mb(r.Agent.ReadMBps), mb(r.Fio.ReadMBps), rt(r.ReadRatio))
	t.Add("IQR/median", "", pct(r.Agent.WriteSpread), pct(r.Fio.WriteSpread), "", pct(r.Agent.ReadSpread), pct(r.Fio.ReadSpread), "")
	if err := t.Write(w); err != nil {
		return err
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Fprintf(w, "\nMB/s = 10^6 bytes/s. The median row of each RATIO column is the median of the round ratios.\n")
	fmt.Fprintf(w, "CPU per GB moved: agent %.3f s, fio %.3f s (fio's includes its start-up). Bench took %.0f s.\n\n", r.Agent.CPUPerGB, r.Fio.CPUPerGB, r.Seconds)
	ci := func(c [2]float64) string {
		conf := "95% interval"
		if !stats.CI95(len(r.PerRound)) {
			conf = "range"
		}
		return fmt.Sprintf("%s %.2f-%.2f", conf, c[0], c[1])
	}
	fmt.Fprintf(w, "write: agent %s MB/s, fio %s MB/s (medians, ratio %s); median of the round ratios agent/fio %s (%s): %s\n",
		mb(r.Agent.WriteMBps), mb(r.Fio.WriteMBps), rt(r.WriteRatioOfMedians), rt(r.WriteRatio), ci(r.WriteRatioCI), verdict(r.WritePass))
	fmt.Fprintf(w, "read:  agent %s MB/s, fio %s MB/s (medians, ratio %s); median of the round ratios agent/fio %s (%s): %s\n",
		mb(r.Agent.ReadMBps), mb(r.Fio.ReadMBps), rt(r.ReadRatioOfMedians), rt(r.ReadRatio), ci(r.ReadRatioCI), verdict(r.ReadPass))
	for _, m := range []struct {
		name string
		pass bool
		ci   [2]float64
	}{{"write", r.WritePass, r.WriteRatioCI}, {"read", r.ReadPass, r.ReadRatioCI}} {
		switch {
		case m.pass:
		case withinGoal(m.ci[0]) || withinGoal(m.ci[1]) || (m.ci[0] < 1-Goal && m.ci[1] > 1+Goal):
			fmt.Fprintf(w, "  %s: the interval reaches into ±%.0f%%: the miss can be this disk's noise; more rounds (--rounds) narrow it\n", m.name, 100*Goal)
		default:
			fmt.Fprintf(w, "  %s: the whole interval is outside ±%.0f%%: a real difference between the agent and fio, not noise\n", m.name, 100*Goal)
		}
	}
	_, err := fmt.Fprintf(w, "goal: agent within ±%.0f%% of fio (median of the round ratios, write and read): %s\n", 100*Goal, r.Goal)
	return err
}
