// Command bmc (make bench-bmc) times `provision power on` and `provision boot pxe` across a fleet of
// virtual Redfish BMCs on loopback (default 1000, 200 ms added latency per request,
// 5 % hung, 5 % demanding If-Match with a 428 like Supermicro, 5 % answering power
// requests with 202 and a task monitor) and compares each wall time with the ideal
//
//	N × op latency / concurrency + one deadline
//
// where op latency is the Redfish requests one operation makes (counted on the virtual
// BMCs, not assumed) times the added latency.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/racklift/racklift/internal/bench/stats"
	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
)

func main() {
	n := flag.Int("n", 1000, "virtual BMCs")
	latency := flag.Duration("latency", 200*time.Millisecond, "latency added to every Redfish request")
	hungPct := flag.Float64("hung", 5, "percent of BMCs that never answer")
	ifMatchPct := flag.Float64("ifmatch", 5, "percent of BMCs that answer 428 to a change without If-Match")
	taskPct := flag.Float64("task", 5, "percent of BMCs that answer a reset with 202 and a task monitor (done after one latency)")
	conc := flag.Int("concurrency", bmc.DefaultConcurrency, "provision --concurrency")
	deadline := flag.Duration("timeout", 10*time.Second, "provision --timeout (per-BMC deadline)")
	bin := flag.String("provision", "bin/provision", "the provision binary")
	goal := flag.Float64("goal", 1.2, "ratio goal")
	flag.Parse()
	if err := run(*n, *latency, mix{hung: *hungPct, ifMatch: *ifMatchPct, task: *taskPct}, *conc, *deadline, *bin, *goal); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bmc:", err)
		os.Exit(1)
	}
}

// raiseNofile lifts the soft open-files limit to the hard one: a thousand listeners
// and their connections do not fit in the default 1024.
func raiseNofile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}

type report struct {
	Failed  int          `json:"failed"`
	Results []bmc.Result `json:"results"`
}

// mix is the percentage of BMCs with each misbehaviour.
type mix struct{ hung, ifMatch, task float64 }

// every picks BMCs evenly: pct percent of them, starting at offset (so the kinds do not
// fall on the same BMCs).
func every(pct float64, offset int) func(int) bool {
	if pct <= 0 {
		return func(int) bool { return false }
	}
	k := int(100 / pct)
	return func(i int) bool { return i%k == (k/2+offset)%k }
}

func run(n int, latency time.Duration, m mix, conc int, deadline time.Duration, bin string, goal float64) error {
	hungPct := m.hung
	nofile, err := raiseNofile()
	if err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE: %w", err)
	}
	if need := uint64(3*n + 256); nofile < need {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is below the %d this run needs: raise it (ulimit -Hn) or lower -n", nofile, need)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build first)", bin, err)
	}
	isHung := every(m.hung, 0)
	isIfMatch, isTask := every(m.ifMatch, 3), every(m.task, 7)

	t0 := time.Now()
	const password = "bench-Pa55word"
	fleet, err := lab.StartFleet(n, func(int) lab.Config { return lab.Config{Username: "admin", Password: password} })
	if err != nil {
		return err
	}
	defer fleet.Close()
	hung, ifMatch, tasks := 0, 0, 0
	for i, b := range fleet.BMCs {
		f := lab.Faults{Latency: latency}
		switch {
		case isHung(i):
			f.Hang = true
			hung++
		case isIfMatch(i):
			f.RequireIfMatch = true
			ifMatch++
		case isTask(i):
			f.TaskMonitor = latency
			tasks++
		}
		b.SetFaults(f)
	}
	dir, err := os.MkdirTemp("", "racklift-bench-bmc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "bmc-ca.pem")
	if err := fleet.CA.WriteFile(caFile); err != nil {
		return err
	}
	site := lab.Site{Name: "bench", TLS: "ca:" + caFile, Nodes: lab.NodesFor("gpu", fleet.BMCs)}
	if err := site.Write(filepath.Join(dir, "inventory")); err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench-bmc: %d virtual Redfish BMCs on loopback (TLS, one CA), %v added to every request, %d hung (%.0f %%), %d demanding If-Match (428), %d answering resets with a task monitor; started in %.1fs, %d MiB heap; RLIMIT_NOFILE %d\n",
		n, latency, hung, hungPct, ifMatch, tasks, time.Since(t0).Seconds(), ms.HeapAlloc>>20, nofile)
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", l)
	}
	fmt.Printf("provision --concurrency %d --timeout %v, %d CPUs\n\n", conc, deadline, runtime.NumCPU())

	healthy := n - hung
	worst := 0.0
	for _, op := range []struct {
		name string
		args []string
		ok   func(b *lab.BMC) bool
	}{
		{"power on", []string{"power", "on", "all"}, func(b *lab.BMC) bool {
			on, _ := b.Machine().On(context.Background())
			return on
		}},
		{"boot pxe", []string{"boot", "pxe", "all"}, func(b *lab.BMC) bool { return b.BootOverride().Target == "Pxe" }},
	} {
		before := make([]lab.Counts, n)
		for i, b := range fleet.BMCs {
			before[i] = b.Counts()
		}
		args := append([]string{"-i", filepath.Join(dir, "inventory"), "-o", "json",
			"--concurrency", fmt.Sprint(conc), "--timeout", deadline.String()}, op.args...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "RACKLIFT_CRED_LAB_BMC_PASSWORD="+password, "RACKLIFT_SECRETS=/nonexistent")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		runErr := cmd.Run()
		wall := time.Since(start)
		var rep report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			return fmt.Errorf("%s: %v (exit %v): %s %s", op.name, err, runErr, out.String(), errb.String())
		}

		var reqs, conns, got428, gotTasks int64
		var durs, hungDurs []time.Duration
		var lastHungEnd time.Time
		okCount, wrong, hungTimedOut := 0, 0, 0
		for i, b := range fleet.BMCs {
			res := rep.Results[i]
			if isHung(i) {
				hungDurs = append(hungDurs, res.End.Sub(res.Start))
				if res.End.After(lastHungEnd) {
					lastHungEnd = res.End
				}
				if res.Result == "failed" && res.Kind == bmc.KindTimeout {
					hungTimedOut++
				} else {
					fmt.Printf("  unexpected for a hung BMC: %s %s %s %s\n", res.Node, res.Result, res.Kind, res.Error)
				}
				continue
			}
			c := b.Counts()
			got428 += c.PreconditionRequired - before[i].PreconditionRequired
			gotTasks += c.Tasks - before[i].Tasks
			reqs += c.Requests - before[i].Requests
			conns += c.Connections - before[i].Connections
			durs = append(durs, res.End.Sub(res.Start))
			if res.Result == "ok" && op.ok(b) {
				okCount++
			} else {
				wrong++
				if wrong <= 3 {
					fmt.Printf("  unexpected: %s %s %s\n", res.Node, res.Result, res.Error)
				}
			}
		}
		rt := float64(reqs) / float64(healthy)
		opLatency := time.Duration(rt * float64(latency))
		ideal := time.Duration(float64(n)*float64(opLatency)/float64(conc)) + deadline
		ratio := wall.Seconds() / ideal.Seconds()
		worst = max(worst, ratio)
		fmt.Printf("%s: wall %.2fs; %d/%d healthy BMCs done and verified on the BMC, %d/%d hung ones failed at their deadline\n",
			op.name, wall.Seconds(), okCount, healthy, hungTimedOut, hung)
		fmt.Printf("  Redfish requests per operation (counted on the BMCs): %.2f → op latency %.2f × %v = %v; TLS connections per operation: %.2f\n",
			rt, rt, latency, opLatency.Round(time.Millisecond), float64(conns)/float64(healthy))
		fmt.Printf("  quirks met: %d answers 428 (then sent with If-Match), %d resets answered with a task monitor (followed to completion)\n", got428, gotTasks)
		fmt.Printf("  per-node time (healthy): p50 %v, p99 %v, max %v\n",
			stats.Median(durs).Round(time.Millisecond), stats.Quantile(durs, 0.99).Round(time.Millisecond), stats.Quantile(durs, 1).Round(time.Millisecond))
		if len(hungDurs) > 0 {
			fmt.Printf("  per-node time (hung): p50 %v, max %v; the last hung one ended %.2fs after the start\n",
				stats.Median(hungDurs).Round(time.Millisecond), stats.Quantile(hungDurs, 1).Round(time.Millisecond), lastHungEnd.Sub(start).Seconds())
		}
		fmt.Printf("  ideal = N × op latency / concurrency + one deadline = %d × %v / %d + %v = %.2fs\n",
			n, opLatency.Round(time.Millisecond), conc, deadline, ideal.Seconds())
		fmt.Printf("  ratio wall / ideal = %.2f (goal ≤ %.1f)\n\n", ratio, goal)
		if wrong > 0 || hungTimedOut != hung {
			return fmt.Errorf("%s: %d healthy nodes not done, %d of %d hung nodes not timed out", op.name, wrong, hung-hungTimedOut, hung)
		}
	}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average after: %s", l)
	}
	runtime.ReadMemStats(&ms)
	fmt.Printf("virtual BMC process: %d MiB heap, %d goroutines at the end\n", ms.HeapAlloc>>20, runtime.NumGoroutine())
	verdict := "met"
	if worst > goal {
		verdict = "NOT met"
	}
	fmt.Printf("bench-bmc: worst ratio %.2f, goal ≤ %.1f %s\n", worst, goal, verdict)
	return nil
}
