package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

// Network is the lab inventory's provisioning network: the instances campaign for it.
const Network = "provisioning"

// SharedPrefix is where the shared rack keeps its state in etcd.
const SharedPrefix = "/racklift-lab/"

// shared is the rack served by several serve cores, each in its own child process, on
// one etcd state (docs/scale.md): only the instance elected for the network hears the
// nodes' DHCP, any live instance their HTTP, and the agent API's one address (as a
// load balancer or a DNS name would be) reaches any live instance.
type shared struct {
	etcd  *labetcd.Cluster
	lease time.Duration
	proxy net.Listener

	mu    sync.Mutex
	insts []*Instance
	next  int
}

// Instance is one serve core of a shared rack.
type Instance struct {
	Name     string
	StateDir string
	agentAt  string
	cmd      *exec.Cmd
	url      string
	down     bool // killed
	paused   bool // SIGSTOPped
}

// StartShared runs n cores as instances sharing the state in etcd with the given lease.
// The first creates the CA; the others get a copy of it (docs/scale.md: the instances
// share one CA, so a node's certificate is good on every one).
func (r *Rack) StartShared(etcd *labetcd.Cluster, n int, lease time.Duration) {
	r.t.Helper()
	sh := &shared{etcd: etcd, lease: lease}
	r.shared = sh
	ln, err := net.Listen("tcp", r.agentAt)
	if err != nil {
		r.t.Fatal(err)
	}
	sh.proxy = ln
	go sh.serveProxy()
	r.t.Cleanup(func() {
		ln.Close()
		sh.mu.Lock()
		insts := append([]*Instance(nil), sh.insts...)
		sh.mu.Unlock()
		for i := range insts {
			r.KillInstance(i)
		}
	})
	for i := range n {
		in := &Instance{Name: fmt.Sprintf("serve-%d", i+1), StateDir: r.StateDir}
		if i > 0 {
			in.StateDir = r.t.TempDir()
			if err := copyDir(pki.Dir(r.StateDir), pki.Dir(in.StateDir)); err != nil {
				r.t.Fatal(err)
			}
		}
		port, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.t.Fatal(err)
		}
		in.agentAt = port.Addr().String()
		port.Close()
		cc := r.childConfig()
		cc.StateDir, cc.AgentAt = in.StateDir, in.agentAt
		cc.Shared = &provisioner.Shared{Etcd: state.EtcdConfig{Endpoints: etcd.Endpoints(), Prefix: SharedPrefix},
			Instance: in.Name, Lease: lease, Networks: []string{Network}}
		in.cmd, in.url = r.spawn(cc)
		sh.mu.Lock()
		sh.insts = append(sh.insts, in)
		sh.mu.Unlock()
	}
}

// spawn runs a core child with cc and returns it and its rig URL.
func (r *Rack) spawn(cc childConfig) (*exec.Cmd, string) {
	r.t.Helper()
	raw, _ := json.Marshal(cc)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return cmd, r.childReady(cmd, out)
}

// Instances are the shared rack's instances.
func (r *Rack) Instances() []*Instance {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	return append([]*Instance(nil), r.shared.insts...)
}

// InstanceNamed is the instance called name (nil: none).
func (r *Rack) InstanceNamed(name string) int {
	for i, in := range r.Instances() {
		if in.Name == name {
			return i
		}
	}
	return -1
}

// KillInstance SIGKILLs instance i: no drain, no Close, its lease left to expire.
func (r *Rack) KillInstance(i int) {
	sh := r.shared
	sh.mu.Lock()
	in := sh.insts[i]
	if in.down {
		sh.mu.Unlock()
		return
	}
	in.down = true
	sh.mu.Unlock()
	in.cmd.Process.Signal(syscall.SIGCONT)
	in.cmd.Process.Kill()
	in.cmd.Wait()
}

// PauseInstance SIGSTOPs instance i; ResumeInstance SIGCONTs it.
func (r *Rack) PauseInstance(i int) { r.signalInstance(i, syscall.SIGSTOP, true) }

// ResumeInstance lets a paused instance run again.
func (r *Rack) ResumeInstance(i int) { r.signalInstance(i, syscall.SIGCONT, false) }

func (r *Rack) signalInstance(i int, sig syscall.Signal, paused bool) {
	sh := r.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	in := sh.insts[i]
	if err := in.cmd.Process.Signal(sig); err != nil {
		r.t.Errorf("instance %s: %v", in.Name, err)
	}
	in.paused = paused
}

// ClientOf connects to instance i's control API as the CLI does.
func (r *Rack) ClientOf(i int) *api.Client {
	r.t.Helper()
	c, err := api.Connect(context.Background(), "", r.Instances()[i].StateDir)
	if err != nil {
		r.t.Fatal(err)
	}
	cl, ok := c.(*api.Client)
	if !ok {
		r.t.Fatalf("Connect = %T, want the API client", c)
	}
	return cl
}

// Holders reads who holds the network and each node from etcd.
func (r *Rack) Holders() (cluster.Holders, error) {
	cli, err := r.shared.etcd.Client()
	if err != nil {
		return cluster.Holders{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cluster.ReadHolders(ctx, cli, SharedPrefix)
}

// live are the instances neither killed nor paused, starting at a rotating one.
func (sh *shared) live() []*Instance {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []*Instance
	for k := range sh.insts {
		in := sh.insts[(sh.next+k)%len(sh.insts)]
		if !in.down && !in.paused {
			out = append(out, in)
		}
	}
	sh.next++
	return out
}

// sharedRig calls the rig endpoint of the first live instance that takes the call; an
// instance standing by refuses a DHCP event (409) and the next is tried.
func (r *Rack) sharedRig(method, path string, body any, out any) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	err := fmt.Errorf("no live instance")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, in := range r.shared.live() {
		req, _ := http.NewRequest(method, in.url+path, bytes.NewReader(b))
		resp, derr := client.Do(req)
		if derr != nil {
			err = derr
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s on %s: %s: %s", method, path, in.Name, resp.Status, strings.TrimSpace(string(data)))
			continue
		}
		if out != nil {
			return json.Unmarshal(data, out)
		}
		return nil
	}
	return err
}

func isDHCP(k events.Kind) bool { return strings.HasPrefix(string(k), "dhcp.") }

// hearsDHCP: a core alone hears every event; one of several hears DHCP only while it
// is elected for the network.
func hearsDHCP(c *provisioner.Core, sh *provisioner.Shared, k events.Kind) bool {
	if sh == nil || !isDHCP(k) {
		return true
	}
	for _, nw := range sh.Networks {
		if c.HoldsNetwork(nw) {
			return true
		}
	}
	return false
}

// publishDHCP is the node asking for DHCP until an instance answers (a real node's
// firmware retries its DISCOVER), for up to a minute.
func (r *Rack) publishDHCP(i int, kind events.Kind, detail string) {
	deadline := time.Now().Add(time.Minute)
	for {
		err := r.rig(http.MethodPost, "/event", events.Event{Kind: kind, Node: NodeName(i), MAC: NodeMAC(i), IP: "10.209.0.9", Detail: detail, Time: time.Now()}, nil)
		if err == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveProxy forwards each agent connection to a live instance's agent API.
func (sh *shared) serveProxy() {
	for {
		c, err := sh.proxy.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var up net.Conn
			for _, in := range sh.live() {
				if up, err = net.DialTimeout("tcp", in.agentAt, 2*time.Second); err == nil {
					break
				}
			}
			if up == nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, c); done <- struct{}{} }()
			go func() { io.Copy(c, up); done <- struct{}{} }()
			<-done
		}()
	}
}

// copyDir copies the files of src into dst (the CA, for another instance).
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
}
