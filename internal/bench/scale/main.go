// Command scale is `make bench-scale`: many simulated nodes across many provisioning
// networks brought to ready by three serve cores sharing their state on a three-member
// etcd (each core its own process, as `provision serve --store etcd` runs), against one
// core on bbolt, on the same machine in the same run. It prints both wall times, the
// state's events per second, the failover time (one instance SIGKILLed after the run,
// until the others hold its nodes), and each instance's peak memory.
//
// What is simulated, and where (nothing leaves loopback): each node's BMC is in-process
// in the core that drives it (a power cycle that starts the node), and the node's DHCP,
// boot fetches and agent (hello, expectations, passing report) are in-process calls on
// the core's lifecycle, each one a state write as serve's services make it. TLS, the
// agent API's HTTP and real DHCP packets are not in this benchmark (bench-boot,
// bench-agent and the apitest rig cover them); the DHCP election is in pkg/cluster's
// tests.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

const childEnv = "RACKLIFT_SCALE_CHILD"

// -profile DIR: each core writes DIR/INSTANCE.pprof, its CPU profile of -profile-for.
var (
	profileDir = flag.String("profile", "", "write each core's CPU profile to this directory (go tool pprof)")
	profileFor = flag.Duration("profile-for", time.Minute, "how long each core profiles from its start")
)

// childConfig is one core's configuration, passed to its process.
type childConfig struct {
	StateDir  string
	InvDir    string
	Endpoints []string // empty: bbolt
	Instance  string
	Lease     time.Duration
	Tick      time.Duration
	// Profile, when set, is a file the core writes its CPU profile of its first
	// ProfileFor to (-profile: where an instance's time goes).
	Profile    string
	ProfileFor time.Duration
}

func main() {
	if raw := os.Getenv(childEnv); raw != "" {
		if err := runChild(raw); err != nil {
			fmt.Fprintln(os.Stderr, "scale core:", err)
			os.Exit(1)
		}
		return
	}
	nodes := flag.Int("nodes", 10000, "simulated nodes")
	networks := flag.Int("networks", 20, "provisioning networks")
	instances := flag.Int("instances", 3, "serve instances on etcd")
	lease := flag.Duration("lease", cluster.DefaultLease, "the instances' lease")
	tick := flag.Duration("tick", 2*time.Second, "the lifecycle's tick")
	kill := flag.Bool("kill", true, "after the run, SIGKILL one instance and time until the others hold its nodes")
	flag.Parse()
	if err := run(*nodes, *networks, *instances, *lease, *tick, *kill); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

// result is one configuration's run.
type result struct {
	name     string
	wall     time.Duration
	events   uint64
	ready    int
	failover time.Duration
	mem      map[string]int64 // instance → peak RSS in bytes
}

func run(nodes, networks, instances int, lease, tick time.Duration, kill bool) error {
	work, err := os.MkdirTemp("", "racklift-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	inv := filepath.Join(work, "inventory")
	if err := writeInventory(inv, nodes, networks); err != nil {
		return err
	}
	fmt.Printf("bench-scale: %d nodes across %d provisioning networks; lease %v, tick %v; load %s\n", nodes, networks, lease, tick, loadavg())

	bin, err := exec.LookPath(labetcd.Binary)
	if err != nil {
		return fmt.Errorf("needs %s (scripts/packages/scale.txt: etcd-server): %w", labetcd.Binary, err)
	}
	ec, err := labetcd.StartCluster(bin, filepath.Join(work, "etcd"), 3)
	if err != nil {
		return err
	}
	defer ec.Stop()
	onEtcd, err := runConfig(work, inv, nodes, fmt.Sprintf("%d instances on etcd", instances), ec.Endpoints(), instances, lease, tick, kill)
	if err != nil {
		return err
	}
	onBolt, err := runConfig(work, inv, nodes, "1 instance on bbolt", nil, 1, lease, tick, false)
	if err != nil {
		return err
	}
	for _, r := range []result{onBolt, onEtcd} {
		fmt.Printf("%-22s wall %8.1fs  ready %d/%d  events %d (%.0f/s)", r.name, r.wall.Seconds(), r.ready, nodes, r.events, float64(r.events)/r.wall.Seconds())
		if r.failover > 0 {
			fmt.Printf("  failover %.1fs", r.failover.Seconds())
		}
		fmt.Println()
		for inst, m := range r.mem {
			fmt.Printf("%-22s   %s peak memory %d MB\n", "", inst, m>>20)
		}
	}
	fmt.Printf("ratio etcd/bbolt wall: %.2f (goal: at most 1.2); failover goal: under 10s; memory goal: under 500 MB per instance; load %s\n",
		onEtcd.wall.Seconds()/onBolt.wall.Seconds(), loadavg())
	return nil
}

type child struct {
	name string
	dir  string
	cmd  *exec.Cmd
}

func runConfig(work, inv string, nodes int, name string, endpoints []string, n int, lease, tick time.Duration, kill bool) (result, error) {
	res := result{name: name, mem: map[string]int64{}}
	var kids []*child
	defer func() {
		for _, k := range kids {
			k.cmd.Process.Kill()
			k.cmd.Wait()
		}
	}()
	tag := "bolt"
	if endpoints != nil {
		tag = "etcd"
	}
	for i := range n {
		k := &child{name: fmt.Sprintf("%s-%d", tag, i+1), dir: filepath.Join(work, fmt.Sprintf("%s-%d", tag, i+1))}
		cc := childConfig{StateDir: k.dir, InvDir: inv, Endpoints: endpoints, Instance: k.name, Lease: lease, Tick: tick}
		if *profileDir != "" {
			cc.Profile, cc.ProfileFor = filepath.Join(*profileDir, k.name+".pprof"), *profileFor
		}
		raw, _ := json.Marshal(cc)
		self, err := os.Executable()
		if err != nil {
			return res, err
		}
		k.cmd = exec.Command(self)
		k.cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
		k.cmd.Stderr = os.Stderr
		k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := k.cmd.StdoutPipe()
		if err != nil {
			return res, err
		}
		if err := k.cmd.Start(); err != nil {
			return res, err
		}
		kids = append(kids, k)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ready") {
			return res, fmt.Errorf("%s did not start: %q %v", k.name, line, err)
		}
	}
	ctx := context.Background()
	src, err := api.Connect(ctx, "", kids[0].dir)
	if err != nil {
		return res, err
	}
	defer src.Close()
	c := src.(*api.Client)
	if endpoints != nil { // every node held before the clock starts, as in a running site
		if err := waitHeld(endpoints, nodes, nil, 5*time.Minute); err != nil {
			return res, err
		}
	}
	start := time.Now()
	if _, err := c.Up(ctx, api.UpRequest{Selectors: []string{"all"}}); err != nil {
		return res, err
	}
	for {
		ns, err := c.Nodes(ctx)
		if err != nil {
			return res, err
		}
		ready, done := 0, 0
		for _, s := range ns {
			if s.Phase == lifecycle.Ready {
				ready++
			}
			if !s.Phase.Active() && s.Phase != lifecycle.Enrolled {
				done++
			}
		}
		res.ready = ready
		if done >= nodes {
			break
		}
		if time.Since(start) > 2*time.Hour {
			return res, fmt.Errorf("%s: %d of %d nodes done after 2 hours", name, done, nodes)
		}
		time.Sleep(time.Second)
	}
	res.wall = time.Since(start)
	for _, k := range kids {
		res.mem[k.name] = peakRSS(k.cmd.Process.Pid)
	}
	// Failover, after the run so its wall time is the steady state's: SIGKILL one
	// instance and time until every node is held by the others (the simulated nodes
	// in flight in a killed core die with it, which would add phase timeouts, not
	// failover, to the wall time).
	if kill && len(kids) > 1 {
		victim := kids[len(kids)-1]
		victim.cmd.Process.Kill()
		victim.cmd.Wait()
		kids = kids[:len(kids)-1]
		t0 := time.Now()
		if err := waitHeld(endpoints, nodes, []string{victim.name}, 5*time.Minute); err != nil {
			return res, err
		}
		res.failover = time.Since(t0)
	}
	if seq, err := lastSeq(kids[0].dir); err == nil {
		res.events = seq
	}
	return res, nil
}

// lastSeq asks an instance's control API for the log's newest sequence number.
func lastSeq(dir string) (uint64, error) {
	src, err := api.Connect(context.Background(), "", dir)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	h, err := src.(*api.Client).Health(context.Background())
	if err != nil {
		return 0, err
	}
	return h.LastSeq, nil
}

// waitHeld waits until every node is held by an instance not in not.
func waitHeld(endpoints []string, nodes int, not []string, within time.Duration) error {
	cli, err := state.EtcdConfig{Endpoints: endpoints}.Dial()
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		h, err := cluster.ReadHolders(ctx, cli, "")
		cancel()
		if err == nil && len(h.Nodes) >= nodes {
			ok := true
			for _, holder := range h.Nodes {
				for _, n := range not {
					ok = ok && holder != n
				}
			}
			if ok {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nodes not all held (not by %v) within %v", not, within)
}

// peakRSS is a process's peak resident memory (VmHWM).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// runChild is one serve core with simulated BMCs and nodes.
func runChild(raw string) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		return err
	}
	if cc.Profile != "" {
		f, err := os.Create(cc.Profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		time.AfterFunc(cc.ProfileFor, func() { pprof.StopCPUProfile(); f.Close() })
	}
	sim := &simPower{}
	cfg := provisioner.Config{
		StateDir: cc.StateDir, Hosts: []string{"127.0.0.1"}, Power: sim, Tick: cc.Tick, BackupEvery: -1,
		Lifecycle: lifecycle.Config{MaxAttempts: 3, Timeouts: map[lifecycle.Phase]time.Duration{
			lifecycle.Powering: 10 * time.Minute, lifecycle.PXE: 20 * time.Minute, lifecycle.Booting: 20 * time.Minute,
			lifecycle.Agent: 20 * time.Minute, lifecycle.Validating: 20 * time.Minute}},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if len(cc.Endpoints) > 0 {
		cfg.Shared = &provisioner.Shared{Etcd: state.EtcdConfig{Endpoints: cc.Endpoints}, Instance: cc.Instance, Lease: cc.Lease}
	}
	c, err := provisioner.Open(cfg)
	if err != nil {
		return err
	}
	sim.core = c
	inv, err := inventory.Load(cc.InvDir)
	if err != nil {
		return err
	}
	if err := c.SetInventory(inv); err != nil {
		return err
	}
	fmt.Println("ready")
	return c.Run(context.Background())
}

// simPower is the in-process BMCs: a power cycle starts the node, which goes through
// DHCP, its boot fetches and its agent as state writes on the core, as serve's services
// and the agent API make them.
type simPower struct {
	core  *provisioner.Core
	calls atomic.Int64
}

func (p *simPower) PXECycle(_ context.Context, t lifecycle.Target) error {
	p.calls.Add(1)
	go p.boot(t.Name)
	return nil
}

func (p *simPower) boot(node string) {
	time.Sleep(50 * time.Millisecond) // POST and firmware, shortened
	m := p.core.Machine
	for _, k := range []lifecycle.Kind{lifecycle.DHCPAck, lifecycle.HTTPKernel, lifecycle.AgentHello, lifecycle.AgentExpect} {
		if _, err := m.Handle(lifecycle.Event{Node: node, Kind: k, Time: time.Now()}); err != nil {
			fmt.Fprintln(os.Stderr, "node", node, k, err)
			return
		}
	}
	if _, err := m.Report(node, []byte(`{"results":[]}`), true, ""); err != nil {
		fmt.Fprintln(os.Stderr, "node", node, "report:", err)
	}
}

// writeInventory writes a site with networks provisioning networks and nodes nodes in
// racks of 40, each rack on one network (its top-of-rack relay's).
func writeInventory(dir string, nodes, networks int) error {
	if networks < 1 || networks > 200 || nodes > 60000 {
		return fmt.Errorf("at most 200 networks and 60000 nodes")
	}
	if err := os.MkdirAll(filepath.Join(dir, "racks"), 0o755); err != nil {
		return err
	}
	var site strings.Builder
	site.WriteString("site: scale\ndefaults:\n  role: compute\n  profile: lab\n  bmc: {protocol: redfish, credentials: bmc}\n")
	site.WriteString("credentials:\n  - {name: bmc, username: ADMIN}\nnetworks:\n")
	site.WriteString("  - {name: bmc, cidr: 10.250.0.0/16, server: 10.250.0.2, role: bmc}\n")
	for k := range networks {
		fmt.Fprintf(&site, "  - {name: prov-%02d, cidr: 10.%d.0.0/16, gateway: 10.%d.0.1, server: 10.%d.0.2, role: provisioning, dhcp: {mode: reservation}}\n", k, k+1, k+1, k+1)
	}
	site.WriteString("profiles:\n  - name: lab\n    boot: {kernel: lab/vmlinuz, initrd: lab/initrd.img}\n")
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(site.String()), 0o644); err != nil {
		return err
	}
	for r, i := 0, 0; i < nodes; r++ {
		var b strings.Builder
		fmt.Fprintf(&b, "rack: r%04d\nunits: 48\nnodes:\n", r)
		nw := r % networks
		for k := 0; k < 40 && i < nodes; k, i = k+1, i+1 {
			h := i + 10
			fmt.Fprintf(&b, "  - name: n%05d\n    unit: %d\n    bmc: {address: 10.250.%d.%d}\n    interfaces:\n", i, k+1, h/250, h%250+1)
			fmt.Fprintf(&b, "      - {name: eno1, mac: \"02:20:%02x:%02x:%02x:01\", network: prov-%02d, address: 10.%d.%d.%d, pxe: true}\n",
				i>>16&0xff, i>>8&0xff, i&0xff, nw, nw+1, h/250, h%250+1)
		}
		if err := os.WriteFile(filepath.Join(dir, "racks", fmt.Sprintf("r%04d.yaml", r)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
