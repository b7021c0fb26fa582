package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/pki"
)

// provNet is the lab inventory's provisioning network, which the instances campaign for.
const provNet = "provisioning"

// etcdRig is the lab rack served by several `provision serve --store etcd` instances on
// a three-member etcd, as on several provisioning hosts: each instance has its own host
// NIC on br-prov (rack.HostNICName(1...)) and its own address; etcd runs inside the
// rack's namespace, where the instances reach it on loopback (their BMCs are there too).
//
// The network's server address (the inventory's 10.204.0.1, on HostNIC) is a load
// balancer's (balance): whichever instance answers DHCP tells nodes that address for
// HTTP boot, every instance tells them its agent API there (--agent-url), and the
// balancer sends each connection to a live instance.
type etcdRig struct {
	*Rig
	etcd  *labetcd.Cluster
	lease time.Duration
	insts []*instance

	mu sync.Mutex // the instances' down and paused
}

// instance is one serve of an etcdRig.
type instance struct {
	name, nic, addr string
	stateDir, log   string
	cmd             *exec.Cmd
	exited          chan struct{}
	down, paused    bool // SIGKILLed; SIGSTOPped
}

// newEtcdRig starts the rack with n+1 host NICs, a three-member etcd in its namespace,
// the balancer on the server address and n serve instances sharing their state on etcd
// with the given lease. The first instance starts alone (it creates the CA and is
// elected for the network); the others get a copy of its pki/ directory, as
// docs/scale.md says to do.
func newEtcdRig(t *testing.T, n int, lease time.Duration) *etcdRig {
	t.Helper()
	testenv.NeedCommand(t, "etcd", "nft")
	r := newRig(t, rack.Config{HostNICs: n + 1})
	er := &etcdRig{Rig: r, lease: lease}
	ns := r.rack.NS()
	er.etcd = labetcd.StartWith(t, 3, labetcd.Options{NetNS: ns.Name, Dial: func(ctx context.Context, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}})
	// Several NICs on one subnet in one namespace: each answers ARP only for its own
	// address, and a reply leaving by another NIC of the same bridge is not dropped.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sysctls := []string{"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
		// br_netfilter is loaded on this host (it is per namespace, on by default): the
		// balancer's DNAT would then also rewrite frames the bridge forwards, and the
		// connections it balances end in resets. The balancer is a router, not a bridge.
		sysctls = append(sysctls, "net.bridge.bridge-nf-call-iptables=0")
	}
	for _, kv := range sysctls {
		if out, err := ns.Run(ctx, "sysctl", "-qw", kv); err != nil {
			t.Fatalf("sysctl %s: %v: %s", kv, err, out)
		}
	}
	for i := range n {
		// host-N: with these names the first instance, elected for the network, drives
		// lab-01 and the third lab-02 and lab-03 (rendezvous hashing, pkg/cluster).
		in := &instance{name: fmt.Sprintf("host-%d", i+1), nic: rack.HostNICName(i + 1), addr: fmt.Sprintf("10.204.0.%d", i+2)}
		sd, err := os.MkdirTemp("", "rl-e2e-") // short: the control socket's path must fit sun_path
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sd) })
		in.stateDir = sd
		if err := ns.AddAddr(in.nic, in.addr+"/24"); err != nil {
			t.Fatal(err)
		}
		if out, err := ns.Run(ctx, "sysctl", "-qw", "net.ipv4.conf."+in.nic+".rp_filter=0"); err != nil {
			t.Fatalf("sysctl: %v: %s", err, out)
		}
		er.insts = append(er.insts, in)
	}
	t.Cleanup(er.stopAll) // before their state dirs, the rack and etcd go (last first)
	for i, in := range er.insts {
		if i > 0 {
			if err := copyFiles(pki.Dir(er.insts[0].stateDir), pki.Dir(in.stateDir)); err != nil {
				t.Fatalf("copy the first instance's CA: %v", err)
			}
		}
		er.start(in)
	}
	er.balance()
	return er
}

// balancerTable is the nftables table of the balancer in the rack's namespace.
const balancerTable = "racklift-lb"

// balance points the server address's HTTP and agent API ports at the live instances
// in turn: DNAT in the rack's namespace (an L4 balancer such as keepalived's LVS), which
// keeps the node's own address as the source (serve hands a node its credential only
// when it asks from its reserved address, so a proxy in between would not do). Called again
// whenever an instance goes, comes back or is paused: the balancer's health check.
func (er *etcdRig) balance() {
	er.t.Helper()
	var addrs []string
	for k, in := range er.live() {
		addrs = append(addrs, fmt.Sprintf("%d : %s", k, in.addr))
	}
	rules := fmt.Sprintf("add table ip %[1]s\nadd chain ip %[1]s pre { type nat hook prerouting priority dstnat; }\nflush chain ip %[1]s pre\n", balancerTable)
	if len(addrs) > 0 {
		rules += fmt.Sprintf("add rule ip %s pre ip daddr %s tcp dport { 8080, 8443 } dnat to numgen inc mod %d map { %s }\n",
			balancerTable, serverIP, len(addrs), strings.Join(addrs, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := er.rack.NS().Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		er.t.Fatalf("balancer: nft: %v: %s\n%s", err, out, rules)
	}
}

// live are the instances neither killed nor paused: those a balancer's health check
// finds answering.
func (er *etcdRig) live() []*instance {
	er.mu.Lock()
	defer er.mu.Unlock()
	var out []*instance
	for _, in := range er.insts {
		if !in.down && !in.paused {
			out = append(out, in)
		}
	}
	return out
}

// start runs the instance's serve in the rack's namespace and waits for its API.
func (er *etcdRig) start(in *instance) {
	er.t.Helper()
	os.MkdirAll(filepath.Join(er.dir, "pxe"), 0o755)
	in.log = filepath.Join(er.dir, in.name+".log")
	f, err := os.Create(in.log)
	if err != nil {
		er.t.Fatal(err)
	}
	args := append(er.serveArgsOn(in.nic, in.stateDir), "--store", "etcd", "--etcd-endpoints", strings.Join(er.etcd.Endpoints(), ","),
		"--instance", in.name, "--lease", er.lease.String(), "--agent-url", "https://"+serverIP+":8443")
	cmd := er.rack.NS().Command(context.Background(), er.bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = er.env, f, f
	// ip execs serve: it dies with the test binary even when -timeout kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		er.t.Fatal(err)
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(in.exited) }()
	er.waitAPI(in.stateDir, in.log, in.exited)
}

// named is the instance called name, nil if none.
func (er *etcdRig) named(name string) *instance {
	for _, in := range er.insts {
		if in.name == name {
			return in
		}
	}
	return nil
}

// kill SIGKILLs the instance: no drain, its lease left to expire.
func (er *etcdRig) kill(in *instance) {
	er.setState(in, true, false)
	in.cmd.Process.Signal(syscall.SIGCONT) // a paused one dies too
	in.cmd.Process.Kill()
	<-in.exited
	er.balance()
}

// pause SIGSTOPs the instance; resume SIGCONTs it.
func (er *etcdRig) pause(in *instance) {
	er.setState(in, false, true)
	if err := in.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		er.t.Fatalf("pause %s: %v", in.name, err)
	}
	er.balance()
}

func (er *etcdRig) resume(in *instance) {
	if err := in.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		er.t.Fatalf("resume %s: %v", in.name, err)
	}
	er.setState(in, false, false)
	er.balance()
}

func (er *etcdRig) setState(in *instance, down, paused bool) {
	er.mu.Lock()
	defer er.mu.Unlock()
	in.down, in.paused = down, paused
}

// stopAll ends every instance still running (SIGTERM, then SIGKILL after 15 s).
func (er *etcdRig) stopAll() {
	for _, in := range er.insts {
		if in.cmd == nil {
			continue
		}
		in.cmd.Process.Signal(syscall.SIGCONT)
		in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(15 * time.Second):
			in.cmd.Process.Kill()
			<-in.exited
		}
		er.setState(in, true, false)
	}
	if er.t.Failed() {
		for _, in := range er.insts {
			er.t.Logf("%s (%s on %s), last lines:\n%s", in.name, in.addr, in.nic, tail(in.log, 60))
		}
	}
}

// etcdStatus is `provision status -o json --store etcd` run in the rack's namespace
// through instance via: every node's status and who holds the network and each node.
type etcdStatus struct {
	Nodes   []api.NodeStatus `json:"nodes"`
	Holders cluster.Holders  `json:"holders"`
}

func (er *etcdRig) clusterStatus(ctx context.Context, via *instance) (etcdStatus, error) {
	cmd := er.rack.NS().Command(ctx, er.bin, "status", "-o", "json", "--state-dir", via.stateDir,
		"--store", "etcd", "--etcd-endpoints", strings.Join(er.etcd.Endpoints(), ","))
	cmd.Env = er.env
	var st etcdStatus
	out, err := cmd.Output()
	if err != nil {
		return st, fmt.Errorf("provision status --store etcd via %s: %w: %s", via.name, err, out)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("provision status --store etcd -o json: %w: %s", err, out)
	}
	return st, nil
}

// waitHolders polls the holders in etcd every 100 ms (as provision status reads them,
// without a process start per look, so a takeover is timed to the look) until ok holds.
func (er *etcdRig) waitHolders(ctx context.Context, within time.Duration, what string, ok func(cluster.Holders) bool) cluster.Holders {
	er.t.Helper()
	cli, err := er.etcd.Client()
	if err != nil {
		er.t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h, err := cluster.ReadHolders(rctx, cli, "")
		cancel()
		if err == nil && ok(h) {
			return h
		}
		if time.Now().After(deadline) {
			er.t.Fatalf("timed out after %s waiting for %s: %+v, %v", within, what, h, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyFiles copies the files of directory src into dst (0700), each with its mode: the
// CA's key stays 0600.
func copyFiles(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}
