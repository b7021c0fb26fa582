package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/internal/loadavg"
	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/output"
)

// benchGoal is how close the agent's median must be to fio's (±10 %).
const benchGoal = 0.10

// benchRound is one round: each tool writes, then each reads, the same file. MB is
// 10^6 bytes, as fio's. CPU is user+system seconds of that side's run.
type benchRound struct {
	Round      int     `json:"round"` // 0 is the warm-up, not counted
	First      string  `json:"first"` // agent or fio
	AgentWrite float64 `json:"agent_write_mbps"`
	FioWrite   float64 `json:"fio_write_mbps"`
	WriteRatio float64 `json:"write_ratio"`
	AgentRead  float64 `json:"agent_read_mbps"`
	FioRead    float64 `json:"fio_read_mbps"`
	ReadRatio  float64 `json:"read_ratio"`
	AgentCPU   float64 `json:"agent_cpu_s"`
	FioCPU     float64 `json:"fio_cpu_s"`
}

// benchSide summarises one tool over the counted rounds.
type benchSide struct {
	WriteMBps   float64 `json:"write_mbps"`   // median
	ReadMBps    float64 `json:"read_mbps"`    // median
	WriteSpread float64 `json:"write_spread"` // interquartile range / median
	ReadSpread  float64 `json:"read_spread"`
	CPUPerGB    float64 `json:"cpu_s_per_gb"` // CPU seconds per GB moved (fio's includes its start-up)
}

type benchLoad struct {
	CPUs        int        `json:"cpus"`
	Start       [3]float64 `json:"loadavg_start"`
	End         [3]float64 `json:"loadavg_end"`
	CPUPressure float64    `json:"cpu_pressure"` // share of the bench time some task waited for a CPU
	IOPressure  float64    `json:"io_pressure"`  // share of the bench time some task waited for I/O
}

type benchReport struct {
	File      string   `json:"file"`
	SizeBytes int64    `json:"size_bytes"`
	BlockSize int      `json:"block_size"`
	Jobs      int      `json:"jobs"`
	Limit     string   `json:"time_limit"`
	Rounds    int      `json:"rounds"`
	FioWrite  []string `json:"fio_command"`
	FioRead   []string `json:"fio_read_command"`

	Warmup   benchRound   `json:"warmup"`
	PerRound []benchRound `json:"per_round"`
	Agent    benchSide    `json:"agent"`
	Fio      benchSide    `json:"fio"`
	// The goal is judged on these: the median of the per-round ratios agent/fio. The two
	// runs of a round are seconds apart, so a drift of the disk's speed over the bench
	// (a neighbour starting, a host cache warming) cancels in each round's ratio.
	WriteRatio float64 `json:"write_ratio"`
	ReadRatio  float64 `json:"read_ratio"`
	// Median agent / median fio, for comparison: moved by drift that pairs cancel.
	// A distribution-free interval for each median ratio (≥95 % where there are 6 rounds
	// or more): how far noise alone could have moved it.
	WriteRatioCI        [2]float64 `json:"write_ratio_ci"`
	ReadRatioCI         [2]float64 `json:"read_ratio_ci"`
	WriteRatioOfMedians float64    `json:"write_ratio_of_medians"`
	ReadRatioOfMedians  float64    `json:"read_ratio_of_medians"`
	WritePass           bool       `json:"write_pass"`
	ReadPass            bool       `json:"read_pass"`
	Goal                string     `json:"goal"` // PASS or MISS

	Load    benchLoad `json:"load"`
	Seconds float64   `json:"seconds"`
}

func init() {
	var dir, size, fioBin, format string
	var jobs, rounds int
	var limit time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare the agent's O_DIRECT storage figures with fio's on the same file",
		Long: `bench measures sequential O_DIRECT write and read on one file in DIR with the agent's
own code and with fio doing the same I/O: 1 MiB blocks, --jobs streams with one request
in flight each (fio: psync, iodepth=1, numjobs, each stream on its own region via
offset_increment), each write stream ending with fsync (fio: end_fsync=1), bounded by
the same size and time. The file is laid out once, so every timed pass overwrites
allocated blocks and neither tool allocates.

A warm-up round (printed, not counted) is followed by --rounds rounds; in each, both
tools write back to back, then both read, and which goes first alternates by round, so
both see the same disk and the same neighbours. It prints every round, each side's
median and spread (interquartile range / median), the ratio of the medians, and
the median of the per-round ratios agent/fio, on which the goal (within ±10 %) is
judged: the two runs of a round are seconds apart, so a drift of the disk's speed over
the bench cancels in each ratio. It also prints the load average and the CPU and I/O
pressure during the run. The file is removed at the end, also on SIGINT/SIGTERM.`,
		Example: `  node-agent bench --dir /raid --size 4G --jobs 4
  node-agent bench --dir /mnt/datasets --size 8G --jobs 8 --rounds 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			n, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			if rounds < 1 || jobs < 1 {
				return fmt.Errorf("--rounds and --jobs must be at least 1")
			}
			fio, err := exec.LookPath(fioBin)
			if err != nil {
				return fmt.Errorf("fio not found (%v): apt-get install fio", err)
			}
			ctx, sig, stop := signalContext()
			defer stop()
			rep, err := runBench(ctx, fio, dir, storage.Params{Size: n, Jobs: jobs, BlockSize: 1 << 20, Duration: limit}, rounds)
			if s := sig(); s != nil {
				return &exitError{code: 130, msg: fmt.Sprintf("node-agent: interrupted by %v; bench file removed", s)}
			}
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), format, rep, func(w io.Writer) error { return benchTable(w, rep) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", ".", "directory on the filesystem to measure")
	fl.StringVar(&size, "size", "1G", "file size (K, M, G suffixes)")
	fl.IntVar(&jobs, "jobs", 4, "parallel streams (fio numjobs), one request in flight each")
	fl.IntVar(&rounds, "rounds", 9, "counted rounds after the warm-up (each tool writes and reads once per round)")
	fl.DurationVar(&limit, "time", 2*time.Minute, "time limit of each write or read pass")
	fl.StringVar(&fioBin, "fio", "fio", "fio binary")
	fl.StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	root.AddCommand(cmd)
}

// fioArgs is the fio job doing what storage.MeasureFile does.
func fioArgs(path, rw string, p storage.Params, region int64) []string {
	return []string{"--name=racklift-" + rw, "--filename=" + path, "--rw=" + rw,
		"--bs=" + strconv.Itoa(p.BlockSize), "--direct=1", "--ioengine=psync", "--iodepth=1",
		"--numjobs=" + strconv.Itoa(p.Jobs), "--size=" + strconv.FormatInt(region, 10),
		"--offset_increment=" + strconv.FormatInt(region, 10), "--end_fsync=1",
		"--runtime=" + strconv.Itoa(int(p.Duration.Seconds())), "--group_reporting", "--output-format=json"}
}

func runBench(ctx context.Context, fio, dir string, p storage.Params, rounds int) (*benchReport, error) {
	path := filepath.Join(dir, fmt.Sprintf("%sbench-%d", storage.TestFilePrefix, os.Getpid()))
	defer os.Remove(path)
	go func() { <-ctx.Done(); os.Remove(path) }()
	region := p.Size / int64(p.Jobs) / int64(p.BlockSize) * int64(p.BlockSize)
	if region == 0 {
		return nil, fmt.Errorf("--size is smaller than --jobs × 1 MiB")
	}
	if p.Duration < time.Second {
		return nil, fmt.Errorf("--time must be at least 1s (fio's runtime is in seconds)")
	}
	p.Size = region * int64(p.Jobs)
	rep := &benchReport{File: path, SizeBytes: p.Size, BlockSize: p.BlockSize, Jobs: p.Jobs, Rounds: rounds,
		Limit: p.Duration.String(), FioWrite: append([]string{fio}, fioArgs(path, "write", p, region)...),
		FioRead: append([]string{fio}, fioArgs(path, "read", p, region)...)}
	start, cpu0, io0 := time.Now(), pressureTotal("cpu"), pressureTotal("io")
	rep.Load.CPUs, rep.Load.Start = runtime.NumCPU(), loadAvg()

	// Lay the file out once so every timed pass overwrites allocated blocks.
	if _, err := storage.MeasureFile(ctx, path, p, storage.WriteOnly); err != nil {
		return nil, fmt.Errorf("lay out %s: %w", path, err)
	}
	agent := func(phase int) (mbps, cpu float64, err error) {
		before := cpuSelf()
		t, err := storage.MeasureFile(ctx, path, p, phase)
		cpu = cpuSelf() - before
		if phase == storage.ReadOnly {
			return t.ReadMBps(), cpu, err
		}
		return t.WriteMBps(), cpu, err
	}
	fioRun := func(rw string) (mbps, cpu float64, err error) {
		c := exec.CommandContext(ctx, fio, fioArgs(path, rw, p, region)...)
		out, err := c.Output()
		if err != nil {
			return 0, 0, fmt.Errorf("fio %s: %w", rw, err)
		}
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu = seconds(ru.Utime) + seconds(ru.Stime)
		}
		mbps, err = fioBandwidth(out, rw)
		return mbps, cpu, err
	}
	for i := 0; i <= rounds; i++ {
		r := benchRound{Round: i, First: "agent"}
		if i%2 == 1 {
			r.First = "fio"
		}
		for _, ph := range []struct {
			phase int
			rw    string
			a, f  *float64
		}{{storage.WriteOnly, "write", &r.AgentWrite, &r.FioWrite}, {storage.ReadOnly, "read", &r.AgentRead, &r.FioRead}} {
			steps := []func() error{
				func() error {
					mbps, cpu, err := agent(ph.phase)
					*ph.a, r.AgentCPU = mbps, r.AgentCPU+cpu
					return err
				},
				func() error {
					mbps, cpu, err := fioRun(ph.rw)
					*ph.f, r.FioCPU = mbps, r.FioCPU+cpu
					return err
				},
			}
			if r.First == "fio" {
				steps[0], steps[1] = steps[1], steps[0]
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return nil, err
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
			}
		}
		r.WriteRatio, r.ReadRatio = ratio(r.AgentWrite, r.FioWrite), ratio(r.AgentRead, r.FioRead)
		if i == 0 {
			rep.Warmup = r
		} else {
			rep.PerRound = append(rep.PerRound, r)
		}
	}
	summarise(rep)
	rep.Load.End = loadAvg()
	rep.Seconds = time.Since(start).Seconds()
	if cpu0 >= 0 {
		rep.Load.CPUPressure = (pressureTotal("cpu") - cpu0) / 1e6 / rep.Seconds
	}
	if io0 >= 0 {
		rep.Load.IOPressure = (pressureTotal("io") - io0) / 1e6 / rep.Seconds
	}
	return rep, nil
}

// summarise fills in the medians, spreads, ratios and the verdict.
func summarise(rep *benchReport) {
	col := func(f func(benchRound) float64) []float64 {
		var xs []float64
		for _, r := range rep.PerRound {
			xs = append(xs, f(r))
		}
		return xs
	}
	side := func(w, r []float64, cpu float64) benchSide {
		gb := float64(2*len(rep.PerRound)) * float64(rep.SizeBytes) / 1e9
		return benchSide{WriteMBps: median(w), ReadMBps: median(r), WriteSpread: spread(w), ReadSpread: spread(r), CPUPerGB: cpu / gb}
	}
	var agentCPU, fioCPU float64
	for _, r := range rep.PerRound {
		agentCPU, fioCPU = agentCPU+r.AgentCPU, fioCPU+r.FioCPU
	}
	rep.Agent = side(col(func(r benchRound) float64 { return r.AgentWrite }), col(func(r benchRound) float64 { return r.AgentRead }), agentCPU)
	rep.Fio = side(col(func(r benchRound) float64 { return r.FioWrite }), col(func(r benchRound) float64 { return r.FioRead }), fioCPU)
	rep.WriteRatioOfMedians, rep.ReadRatioOfMedians = ratio(rep.Agent.WriteMBps, rep.Fio.WriteMBps), ratio(rep.Agent.ReadMBps, rep.Fio.ReadMBps)
	wr, rr := col(func(r benchRound) float64 { return r.WriteRatio }), col(func(r benchRound) float64 { return r.ReadRatio })
	rep.WriteRatio, rep.ReadRatio = median(wr), median(rr)
	rep.WriteRatioCI, rep.ReadRatioCI = medianCI(wr), medianCI(rr)
	rep.WritePass, rep.ReadPass = withinGoal(rep.WriteRatio), withinGoal(rep.ReadRatio)
	rep.Goal = "MISS"
	if rep.WritePass && rep.ReadPass {
		rep.Goal = "PASS"
	}
}

func withinGoal(r float64) bool { return r >= 1-benchGoal && r <= 1+benchGoal }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// fioBandwidth reads bw_bytes (bytes/s) of the group-reported job from fio's JSON.
func fioBandwidth(out []byte, rw string) (float64, error) {
	var r struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) == 0 {
		return 0, fmt.Errorf("fio output is not the JSON expected: %v", err)
	}
	var side struct {
		BwBytes float64 `json:"bw_bytes"`
	}
	if err := json.Unmarshal(r.Jobs[0][rw], &side); err != nil {
		return 0, fmt.Errorf("fio JSON has no %s.bw_bytes: %v", rw, err)
	}
	return side.BwBytes / 1e6, nil
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// quantile interpolates linearly between the sorted values.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// medianCI is a distribution-free confidence interval for the median: from the k-th
// smallest to the k-th largest value, k the largest with P(Binomial(n, ½) < k) ≤ 2.5 %
// (coverage ≥ 95 %). Below 6 values no such k exists and it is the whole range.
func medianCI(xs []float64) [2]float64 {
	n := len(xs)
	if n == 0 {
		return [2]float64{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x)); return v }
	k, cum := 0, 0.0
	for j := 0; j < n; j++ {
		cum += math.Exp(lg(n+1) - lg(j+1) - lg(n-j+1) - float64(n)*math.Ln2)
		if cum > 0.025 {
			break
		}
		k = j + 1
	}
	if k == 0 {
		return [2]float64{s[0], s[n-1]}
	}
	return [2]float64{s[k-1], s[n-k]}
}

// spread is the interquartile range relative to the median: the noise of one side.
func spread(xs []float64) float64 {
	m := median(xs)
	if m == 0 {
		return 0
	}
	return (quantile(xs, 0.75) - quantile(xs, 0.25)) / m
}

func seconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// cpuSelf is this process's user+system CPU seconds (fio runs as a child: not counted).
func cpuSelf() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func loadAvg() [3]float64 {
	l, _ := loadavg.Read() // zeros where /proc/loadavg cannot be read
	return l
}

// pressureTotal is the "some" stall total (µs) of /proc/pressure/<res>, -1 without PSI.
func pressureTotal(res string) float64 {
	b, err := os.ReadFile("/proc/pressure/" + res)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

func benchTable(w io.Writer, r *benchReport) error {
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
	row := func(name string, x benchRound) {
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
		if len(r.PerRound) < 6 {
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
		case withinGoal(m.ci[0]) || withinGoal(m.ci[1]) || (m.ci[0] < 1-benchGoal && m.ci[1] > 1+benchGoal):
			fmt.Fprintf(w, "  %s: the interval reaches into ±%.0f%%: the miss can be this disk's noise; more rounds (--rounds) narrow it\n", m.name, 100*benchGoal)
		default:
			fmt.Fprintf(w, "  %s: the whole interval is outside ±%.0f%%: a real difference between the agent and fio, not noise\n", m.name, 100*benchGoal)
		}
	}
	_, err := fmt.Fprintf(w, "goal: agent within ±%.0f%% of fio (median of the round ratios, write and read): %s\n", 100*benchGoal, r.Goal)
	return err
}
