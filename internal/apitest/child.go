package apitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/provisioner"
)

// childEnv carries the core's configuration to the child process that runs it.
const childEnv = "RACKLIFT_APITEST_CORE"

// childConfig is what the child needs to open the core as Start did in-process.
type childConfig struct {
	StateDir    string
	AgentAt     string
	InvDir      string
	SecretsFile string
	Timeouts    map[lifecycle.Phase]time.Duration
	MaxAttempts int
	BMCTimeout  time.Duration
	// Shared: the core is one of several instances on etcd (cluster.go).
	Shared *provisioner.Shared
}

// In a test binary re-executed by Rack.Start, run the core instead of the tests: the
// rack then stops it with a real SIGKILL, as a crash or the OOM killer would, with no
// drain and no Close.
func init() {
	if cfg := os.Getenv(childEnv); cfg != "" {
		if err := runChild(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "apitest core:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// runChild opens and runs the core, with a small rig endpoint on loopback for what the
// simulated nodes and the tests need from inside it: publish a boot event, render a
// node's boot arguments, reload the inventory.
func runChild(raw string) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		return err
	}
	c, err := openCore(cc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ln, err := serveRig(ctx, c, cc.InvDir, cc.Shared)
	if err != nil {
		return err
	}
	fmt.Printf("ready http://%s\n", ln.Addr())
	return c.Run(ctx) // until SIGKILL
}

// openCore opens the core as serve does, with the rig's inventory loaded.
func openCore(cc childConfig) (*provisioner.Core, error) {
	c, err := provisioner.Open(provisioner.Config{
		StateDir: cc.StateDir, Hosts: []string{"127.0.0.1"}, AgentListen: cc.AgentAt,
		Secrets:   &inventory.Secrets{File: cc.SecretsFile},
		Lifecycle: lifecycle.Config{Timeouts: cc.Timeouts, MaxAttempts: cc.MaxAttempts, BMCTimeout: cc.BMCTimeout},
		Tick:      50 * time.Millisecond, BackupEvery: -1, Shared: cc.Shared,
	})
	if err != nil {
		return nil, err
	}
	inv, err := inventory.Load(cc.InvDir)
	if err == nil {
		err = c.SetInventory(inv)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// serveRig follows the core's boot events and answers the rig endpoint (publish a boot
// event, render a node's boot arguments, reload the inventory) until ctx ends.
func serveRig(ctx context.Context, c *provisioner.Core, invDir string, shared *provisioner.Shared) (net.Listener, error) {
	reload := func() error {
		inv, err := inventory.Load(invDir)
		if err != nil {
			return err
		}
		return c.SetInventory(inv)
	}
	stream := events.New(nil, nil)
	go c.Follow(ctx, stream)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /event", func(w http.ResponseWriter, r *http.Request) {
		var e events.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !hearsDHCP(c, shared, e.Kind) {
			http.Error(w, "this instance stands by for DHCP", http.StatusConflict)
			return
		}
		stream.Publish(e)
	})
	mux.HandleFunc("GET /bootargs", func(w http.ResponseWriter, r *http.Request) {
		args, err := c.BootArgs(r.URL.Query().Get("node"), r.URL.Query().Get("mac"), netip.Addr{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		json.NewEncoder(w).Encode(args)
	})
	mux.HandleFunc("GET /bootslocal", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(c.BootsLocal(r.URL.Query().Get("node")))
	})
	mux.HandleFunc("GET /expect", func(w http.ResponseWriter, r *http.Request) {
		x, err := c.Expect(r.URL.Query().Get("node"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		json.NewEncoder(w).Encode(x)
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := reload(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	return ln, nil
}

// childConfig is the rack's core configuration.
func (r *Rack) childConfig() childConfig {
	return childConfig{
		StateDir: r.StateDir, AgentAt: r.agentAt, InvDir: r.InvDir, SecretsFile: r.secrets.File,
		Timeouts: r.Lifecycle.Timeouts, MaxAttempts: r.Lifecycle.MaxAttempts, BMCTimeout: r.Lifecycle.BMCTimeout,
	}
}

// StartInProcess runs the core in this process and returns it, for tests that read its
// store or call it directly. Kill then stops it gracefully (cancel, drain, close): tests
// of a crash use Start, whose Kill is a real SIGKILL.
func (r *Rack) StartInProcess() *provisioner.Core {
	r.t.Helper()
	c, err := openCore(r.childConfig())
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := serveRig(ctx, c, r.InvDir, nil)
	if err != nil {
		cancel()
		c.Close()
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			r.t.Error(err)
		}
		c.Close()
	}()
	u := "http://" + ln.Addr().String()
	r.rigURL.Store(&u)
	r.stopLocal = func() { cancel(); <-done }
	r.t.Cleanup(r.Kill)
	return c
}

// startChild runs the core in a child process and returns its rig URL.
func (r *Rack) startChild() (*exec.Cmd, string) {
	r.t.Helper()
	return r.spawn(r.childConfig())
}

// childReady waits for the child's ready line and returns its rig URL.
func (r *Rack) childReady(cmd *exec.Cmd, out io.Reader) string {
	r.t.Helper()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		r.t.Fatalf("core child did not start: %q", lines.Text())
	}
	go io.Copy(io.Discard, out)
	return strings.TrimPrefix(lines.Text(), "ready ")
}

// rig calls the child's rig endpoint.
func (r *Rack) rig(method, path string, body any, out any) error {
	if r.shared != nil {
		return r.sharedRig(method, path, body, out)
	}
	base := r.rigURL.Load()
	if base == nil {
		return fmt.Errorf("the core is not running")
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, *base+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// bootArgs asks the core for node's boot arguments.
func (r *Rack) bootArgs(node, mac string) ([]string, error) {
	var args []string
	err := r.rig(http.MethodGet, "/bootargs?node="+url.QueryEscape(node)+"&mac="+url.QueryEscape(mac), nil, &args)
	return args, err
}

// Reload makes the running core load the inventory again (as serve's file watch does).
func (r *Rack) Reload() error { return r.rig(http.MethodPost, "/reload", nil, nil) }
