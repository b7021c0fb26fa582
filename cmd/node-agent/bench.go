package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/output"
)

// benchResult is one side of the comparison, in MB/s (10^6 bytes).
type benchResult struct {
	WriteMBps float64 `json:"write_mbps"`
	ReadMBps  float64 `json:"read_mbps"`
}

type benchReport struct {
	File       string        `json:"file"`
	SizeBytes  int64         `json:"size_bytes"`
	BlockSize  int           `json:"block_size"`
	Jobs       int           `json:"jobs"`
	Rounds     int           `json:"rounds"`
	Agent      benchResult   `json:"agent"`
	Fio        benchResult   `json:"fio"`
	WriteRatio float64       `json:"write_ratio"` // median over rounds of agent / fio
	ReadRatio  float64       `json:"read_ratio"`
	AgentRuns  []benchResult `json:"agent_runs"`
	FioRuns    []benchResult `json:"fio_runs"`
	FioCommand []string      `json:"fio_command"`
}

func init() {
	var dir, size, fioBin, format string
	var jobs, rounds int
	var limit time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare the agent's O_DIRECT storage figures with fio's on the same file",
		Long: `bench measures sequential O_DIRECT write and read on one file in DIR with the agent's
own code and with fio using the same parameters (bs, direct=1, one request in flight
per stream with psync, numjobs = --jobs each on its own region via offset_increment,
same size, same file). Each round runs the write phase of both back to back, then the
read phase, the order alternating between rounds; it prints the mean MB/s of each and
the median over rounds of the ratio agent/fio. The file is written once before timing so both overwrite the same
allocated blocks, and removed at the end.`,
		Example: `  node-agent bench --dir /raid --size 4G --jobs 4
  node-agent bench --dir /mnt/datasets --size 8G --jobs 8 --rounds 3 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			n, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
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
	fl.IntVar(&rounds, "rounds", 4, "rounds (agent and fio each once per phase per round)")
	fl.DurationVar(&limit, "time", 2*time.Minute, "time limit of each phase")
	fl.StringVar(&fioBin, "fio", "fio", "fio binary")
	fl.StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	root.AddCommand(cmd)
}

func runBench(ctx context.Context, fio, dir string, p storage.Params, rounds int) (*benchReport, error) {
	path := filepath.Join(dir, fmt.Sprintf("%sbench-%d", storage.TestFilePrefix, os.Getpid()))
	defer os.Remove(path)
	go func() { <-ctx.Done(); os.Remove(path) }()
	region := p.Size / int64(p.Jobs) / int64(p.BlockSize) * int64(p.BlockSize)
	if region == 0 {
		return nil, fmt.Errorf("--size is smaller than --jobs × 1 MiB")
	}
	p.Size = region * int64(p.Jobs)
	// Lay the file out once so every timed pass overwrites written blocks.
	if _, err := storage.MeasureFile(ctx, path, p, storage.WriteOnly); err != nil {
		return nil, fmt.Errorf("lay out %s: %w", path, err)
	}
	rep := &benchReport{File: path, SizeBytes: p.Size, BlockSize: p.BlockSize, Jobs: p.Jobs, Rounds: rounds}
	fioArgs := func(rw string) []string {
		return []string{"--name=racklift-" + rw, "--filename=" + path, "--rw=" + rw, "--bs=" + strconv.Itoa(p.BlockSize),
			"--direct=1", "--ioengine=psync", "--iodepth=1", "--numjobs=" + strconv.Itoa(p.Jobs),
			"--size=" + strconv.FormatInt(region, 10), "--offset_increment=" + strconv.FormatInt(region, 10),
			"--runtime=" + strconv.Itoa(int(p.Duration.Seconds())), "--group_reporting", "--output-format=json"}
	}
	rep.FioCommand = append([]string{fio}, fioArgs("write")...)
	agentRun := func(phase int) (float64, error) {
		t, err := storage.MeasureFile(ctx, path, p, phase)
		if phase == storage.ReadOnly {
			return t.ReadMBps(), err
		}
		return t.WriteMBps(), err
	}
	fioRun := func(rw string) (float64, error) {
		out, err := exec.CommandContext(ctx, fio, fioArgs(rw)...).Output()
		if err != nil {
			return 0, fmt.Errorf("fio %s: %w", rw, err)
		}
		return fioBandwidth(out, rw)
	}
	var wRatios, rRatios []float64
	for i := 0; i < rounds; i++ {
		// Each phase runs back to back for both tools, the order alternating by round, so
		// both see the same disk and neighbours.
		var a, f benchResult
		for _, ph := range []struct {
			phase int
			rw    string
			a, f  *float64
		}{{storage.WriteOnly, "write", &a.WriteMBps, &f.WriteMBps}, {storage.ReadOnly, "read", &a.ReadMBps, &f.ReadMBps}} {
			steps := []func() error{
				func() (err error) { *ph.a, err = agentRun(ph.phase); return err },
				func() (err error) { *ph.f, err = fioRun(ph.rw); return err },
			}
			if i%2 == 1 {
				steps[0], steps[1] = steps[1], steps[0]
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return nil, err
				}
			}
		}
		rep.AgentRuns, rep.FioRuns = append(rep.AgentRuns, a), append(rep.FioRuns, f)
		wRatios, rRatios = append(wRatios, a.WriteMBps/f.WriteMBps), append(rRatios, a.ReadMBps/f.ReadMBps)
	}
	rep.Agent, rep.Fio = mean(rep.AgentRuns), mean(rep.FioRuns)
	rep.WriteRatio, rep.ReadRatio = median(wRatios), median(rRatios)
	return rep, nil
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

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(rs []benchResult) benchResult {
	var m benchResult
	for _, r := range rs {
		m.WriteMBps += r.WriteMBps / float64(len(rs))
		m.ReadMBps += r.ReadMBps / float64(len(rs))
	}
	return m
}

func benchTable(w io.Writer, r *benchReport) error {
	fmt.Fprintf(w, "file %s, %d MiB, bs %d KiB, %d streams (fio psync numjobs=%d), O_DIRECT, %d rounds\n\n",
		r.File, r.SizeBytes>>20, r.BlockSize>>10, r.Jobs, r.Jobs, r.Rounds)
	t := output.Rows{Header: []string{"", "WRITE MB/s", "READ MB/s"}}
	t.Add("node-agent", fmt.Sprintf("%.0f", r.Agent.WriteMBps), fmt.Sprintf("%.0f", r.Agent.ReadMBps))
	t.Add("fio", fmt.Sprintf("%.0f", r.Fio.WriteMBps), fmt.Sprintf("%.0f", r.Fio.ReadMBps))
	t.Add("ratio agent/fio (median of rounds)", fmt.Sprintf("%.2f", r.WriteRatio), fmt.Sprintf("%.2f", r.ReadRatio))
	if err := t.Write(w); err != nil {
		return err
	}
	ok := func(x float64) string {
		if x >= 0.9 && x <= 1.1 {
			return "within ±10%"
		}
		return "OUTSIDE ±10%"
	}
	_, err := fmt.Fprintf(w, "\ngoal: agent within ±10%% of fio: write %s, read %s\n", ok(r.WriteRatio), ok(r.ReadRatio))
	return err
}
