// Package apitest is a test rig: it runs serve's provisioning core (provisioner.Core)
// against virtual Redfish BMCs on loopback with simulated nodes, for tests of the
// lifecycle, the APIs and `provision up` without QEMU: when a BMC boots its machine from PXE, the node goes through DHCP and
// HTTP (published on the boot event stream, as serve's services do), takes its bootstrap
// secret from its boot arguments, and its agent (pkg/agent/report's client, as
// node-agent's) exchanges it for the node's certificate, then says hello, fetches
// expectations and reports over mutual TLS pinned to the CA fingerprint from those
// arguments.
package apitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
)

// Rack is the virtual rack and the core serving it.
type Rack struct {
	t         *testing.T
	Fleet     *lab.Fleet
	InvDir    string
	secrets   *inventory.Secrets
	StateDir  string
	agentAt   string // fixed host:port so a restarted core keeps the nodes' racklift.api
	Lifecycle lifecycle.Config

	proc      *exec.Cmd              // the child running the core (Start)
	stopLocal func()                 // stops the core StartInProcess runs
	rigURL    atomic.Pointer[string] // its rig endpoint; nil while it is down

	Cmdlines   sync.Map      // node → its boot arguments (map[string]string), as the node saw them
	Identities sync.Map      // node → the identity.Bundle its agent got for its bootstrap (the latest)
	Gate       chan struct{} // closed: agents may talk; replace before Start to hold them
	FailNode   string        // its agent reports a failing check
	nodes      sync.WaitGroup

	Deploy // nodes with an image: deploy.go

	shared *shared // several instances on etcd: cluster.go
}

const (
	labUser = "admin"
	labPass = "lab-Secret-9"
)

// NewRack starts n BMCs (with faults by index) and simulated nodes, and writes an
// inventory holding the first inInventory of them.
func NewRack(t *testing.T, n int, inInventory int, faults map[int]lab.Faults) *Rack {
	t.Helper()
	f, err := lab.StartFleet(n, func(int) lab.Config { return lab.Config{Username: labUser, Password: labPass} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	for i, fl := range faults {
		f.BMCs[i].SetFaults(fl)
	}
	r := &Rack{t: t, Fleet: f, InvDir: t.TempDir(), StateDir: t.TempDir(), Gate: make(chan struct{})}
	close(r.Gate)
	sec := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(sec, []byte("lab-bmc:\n  password: "+labPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.secrets = &inventory.Secrets{File: sec}
	r.WriteInventory(inInventory)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.agentAt = ln.Addr().String()
	ln.Close()
	r.Lifecycle = lifecycle.Config{
		MaxAttempts: 2,
		BMCTimeout:  2 * time.Second,
		Timeouts:    map[lifecycle.Phase]time.Duration{lifecycle.Powering: 4 * time.Second, lifecycle.PXE: 20 * time.Second, lifecycle.Booting: 20 * time.Second, lifecycle.Agent: 20 * time.Second, lifecycle.Validating: 20 * time.Second},
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); r.nodes.Wait() })
	for i, b := range f.BMCs {
		r.nodes.Add(1)
		go r.simulate(ctx, i, b)
	}
	return r
}

// NodeName is the i-th node's name.
func NodeName(i int) string { return fmt.Sprintf("node-%04d", i+1) }

// NodeMAC is the i-th node's PXE MAC.
func NodeMAC(i int) string { return fmt.Sprintf("52:54:00:09:%02x:%02x", i/256, i%256) }

// WriteInventory writes the first n BMCs' nodes (pinned TLS) to the inventory.
func (r *Rack) WriteInventory(n int) *inventory.Inventory {
	r.t.Helper()
	site := lab.Site{Name: "lab", Nodes: lab.NodesFor("node", r.Fleet.BMCs[:n])}
	for i, b := range r.Fleet.BMCs[:n] {
		site.Nodes[i].TLS = "fingerprint:" + b.Fingerprint()
		site.Nodes[i].Protected = r.Protected[site.Nodes[i].Name]
	}
	if err := site.Write(r.InvDir); err != nil {
		r.t.Fatal(err)
	}
	r.writeImage()
	inv, err := inventory.Load(r.InvDir)
	if err != nil {
		r.t.Fatal(err)
	}
	return inv
}

// Start runs a core on the state dir in a child process, as `provision serve` does.
func (r *Rack) Start() {
	r.t.Helper()
	cmd, rigURL := r.startChild()
	r.proc = cmd
	r.rigURL.Store(&rigURL)
	r.t.Cleanup(r.Kill)
}

// Kill SIGKILLs the core's process: no drain, no Close; its state stays as a crashed
// serve's does.
func (r *Rack) Kill() {
	if r.stopLocal != nil {
		r.rigURL.Store(nil)
		r.stopLocal()
		r.stopLocal = nil
	}
	if r.proc == nil {
		return
	}
	r.rigURL.Store(nil)
	r.proc.Process.Kill()
	r.proc.Wait()
	r.proc = nil
}

// Client connects to the core's control API as the CLI does.
func (r *Rack) Client() *api.Client {
	r.t.Helper()
	c, err := api.Connect(context.Background(), "", r.StateDir)
	if err != nil {
		r.t.Fatal(err)
	}
	cl, ok := c.(*api.Client)
	if !ok {
		r.t.Fatalf("Connect = %T, want the API client", c)
	}
	return cl
}

// simulate is node i: it boots whenever its BMC starts it from PXE.
func (r *Rack) simulate(ctx context.Context, i int, b *lab.BMC) {
	defer r.nodes.Done()
	m := b.Machine().(*lab.MemMachine)
	seen := 0
	for ctx.Err() == nil {
		if boots := m.Boots(); len(boots) > seen {
			seen = len(boots)
			switch boots[seen-1] {
			case lab.BootPxe:
				r.boot(ctx, i)
			case lab.BootHdd, "default":
				// No override: the firmware's order, disk first. An empty disk
				// boots nothing here (the network after it is not simulated).
				r.bootDisk(ctx, i)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// publish hands a boot event to the core, as serve's DHCP and HTTP services do (dropped
// while the core is down, as a real node's packets would be).
func (r *Rack) publish(i int, kind events.Kind, detail string) {
	if r.shared != nil && isDHCP(kind) {
		r.publishDHCP(i, kind, detail)
		return
	}
	r.rig(http.MethodPost, "/event", events.Event{Kind: kind, Node: NodeName(i), MAC: NodeMAC(i), IP: "10.209.0.9", Detail: detail, Time: time.Now()}, nil)
}

func (r *Rack) boot(ctx context.Context, i int) {
	name := NodeName(i)
	r.publish(i, events.DHCPOffer, "")
	r.publish(i, events.DHCPAck, "")
	// The boot script: serve renders it with the node's boot arguments.
	var args []string
	for ctx.Err() == nil {
		if r.bootsLocal(name) { // serve's iPXE answer: the local-disk script
			r.publish(i, events.HTTPScript, "local")
			r.bootDisk(ctx, i)
			return
		}
		var err error
		if args, err = r.bootArgs(name, NodeMAC(i)); err == nil {
			break
		}
		if r.rigURL.Load() != nil {
			r.t.Logf("%s: boot args: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.publish(i, events.HTTPScript, "boot")
	r.publish(i, events.HTTPArtifact, "/artifacts/lab/vmlinuz")
	r.publish(i, events.HTTPArtifact, "/artifacts/lab/initrd.img")
	cmdline := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		cmdline[k] = v
	}
	if r.shared != nil { // the agent API's one address in front of every instance
		cmdline[pki.CmdlineAPI] = "https://" + r.agentAt
	}
	r.Cmdlines.Store(name, cmdline)
	select {
	case <-r.Gate:
	case <-ctx.Done():
		return
	}
	// The agent, as node-agent does it: exchange the bootstrap for the node's certificate,
	// then hello, expectations and report over mutual TLS, each retried until serve answers
	// (it may be restarting).
	client, err := report.NewClient(cmdline[pki.CmdlineAPI], cmdline[pki.CmdlineCA])
	if err != nil {
		r.t.Errorf("%s: %v", name, err)
		return
	}
	client.Agent = "sim"
	r.ramdisk(ctx, i, client, cmdline)
}

const waitGuard = 3 * time.Minute

// WaitDone follows like `provision up` until every named node is ready or failed.
func (r *Rack) WaitDone(c *api.Client, names ...string) map[string]api.NodeStatus {
	r.t.Helper()
	// A hang guard: it returns as soon as the nodes are done, and the phase timeouts
	// end a stuck node long before; a loaded machine may need more than a minute.
	deadline := time.Now().Add(waitGuard)
	for time.Now().Before(deadline) {
		ns, err := c.Nodes(context.Background())
		if err == nil {
			got := map[string]api.NodeStatus{}
			finished := true
			for _, n := range ns {
				got[n.Name] = n
			}
			for _, name := range names {
				finished = finished && got[name].Phase != "" && !got[name].Phase.Active()
			}
			if finished {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ns, _ := c.Nodes(context.Background())
	r.t.Fatalf("nodes not done after %v: %+v", waitGuard, ns)
	return nil
}

// PowerActions is what the BMC's own counters say was done to power node i.
func (r *Rack) PowerActions(i int) int64 {
	c := r.Fleet.BMCs[i].Counts()
	return c.PowerOn + c.PowerCycle + c.ForceRestart + c.GracefulRestart
}

// Names are the first n nodes' names.
func Names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, NodeName(i))
	}
	return out
}
