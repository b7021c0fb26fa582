package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/racklift/racklift/internal/bench/stats"
	"github.com/racklift/racklift/pkg/agent/storage"
)

// FioArgs is the fio job doing what storage.MeasureFile does: rw (write or read) over
// p.Jobs streams, each on its own region of region bytes.
func FioArgs(path, rw string, p storage.Params, region int64) []string {
	return []string{"--name=racklift-" + rw, "--filename=" + path, "--rw=" + rw,
		"--bs=" + strconv.Itoa(p.BlockSize), "--direct=1", "--ioengine=psync", "--iodepth=1",
		"--numjobs=" + strconv.Itoa(p.Jobs), "--size=" + strconv.FormatInt(region, 10),
		"--offset_increment=" + strconv.FormatInt(region, 10), "--end_fsync=1",
		"--runtime=" + strconv.Itoa(int(p.Duration.Seconds())), "--group_reporting", "--output-format=json"}
}

// Run lays out one file in dir, then runs a warm-up round and rounds counted rounds of
// the agent and fio (binary fio) on it, and removes the file, also when ctx ends.
func Run(ctx context.Context, fio, dir string, p storage.Params, rounds int) (*Report, error) {
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
	rep := &Report{File: path, SizeBytes: p.Size, BlockSize: p.BlockSize, Jobs: p.Jobs, Rounds: rounds,
		Limit: p.Duration.String(), FioWrite: append([]string{fio}, FioArgs(path, "write", p, region)...),
		FioRead: append([]string{fio}, FioArgs(path, "read", p, region)...)}
	start, pressure := time.Now(), stats.StartPressure()
	rep.Load.CPUs, rep.Load.Start = runtime.NumCPU(), loadAvg()

	// Lay the file out once so every timed pass overwrites allocated blocks.
	if _, err := storage.MeasureFile(ctx, path, p, storage.WriteOnly); err != nil {
		return nil, fmt.Errorf("lay out %s: %w", path, err)
	}
	agent := func(phase int) (mbps, cpu float64, err error) {
		before := stats.SelfCPU() // fio runs as a child: not counted
		t, err := storage.MeasureFile(ctx, path, p, phase)
		cpu = (stats.SelfCPU() - before).Seconds()
		if phase == storage.ReadOnly {
			return t.ReadMBps(), cpu, err
		}
		return t.WriteMBps(), cpu, err
	}
	fioRun := func(rw string) (mbps, cpu float64, err error) {
		c := exec.CommandContext(ctx, fio, FioArgs(path, rw, p, region)...)
		out, err := c.Output()
		if err != nil {
			return 0, 0, fmt.Errorf("fio %s: %w", rw, err)
		}
		cpu = stats.ExitedCPU(c.ProcessState).Seconds()
		mbps, err = fioBandwidth(out, rw)
		return mbps, cpu, err
	}
	for i := 0; i <= rounds; i++ {
		r := Round{Round: i, First: "agent"}
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
		r.WriteRatio, r.ReadRatio = stats.Ratio(r.AgentWrite, r.FioWrite), stats.Ratio(r.AgentRead, r.FioRead)
		if i == 0 {
			rep.Warmup = r
		} else {
			rep.PerRound = append(rep.PerRound, r)
		}
	}
	summarise(rep)
	rep.Load.End = loadAvg()
	rep.Seconds = time.Since(start).Seconds()
	rep.Load.CPUPressure, rep.Load.IOPressure = pressure.Shares()
	return rep, nil
}

func loadAvg() [3]float64 {
	l, _ := stats.LoadAverage() // zeros where /proc/loadavg cannot be read
	return l
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
