package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/agent/ramdisk"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/initramfs"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
)

// serverIP is the lab's provisioning server address (inventory/examples/lab).
const serverIP = "10.204.0.1"

// Rig is one virtual rack with the real provision binary serving it.
type Rig struct {
	t        testing.TB
	bin      string // provision
	dir      string
	inv      string // a copy of the lab inventory, editable by the test
	stateDir string
	arts     string
	rack     *rack.Rack
	env      []string

	serve    *exec.Cmd
	serveLog *os.File
	serveOut string
	serveN   int
}

// needs are the prerequisites of a rig; a missing one fails under make test.
func needs(t testing.TB) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "ipmi_sim", "ipmitool", "busybox", "mkfs.ext4", "apt-get", "dpkg", "depmod", "lldpd")
	testenv.NeedFile(t, filepath.Join(testenv.Bin(t), "provision"))
	testenv.NeedFile(t, filepath.Join(testenv.Bin(t), "node-agent"))
}

// NewRig builds the agent ramdisk as the lab profile's kernel and initrd, copies the lab
// inventory and starts the virtual rack (guests off), with extra machines that are not
// in the inventory yet.
func NewRig(t testing.TB, extra ...rack.Node) *Rig {
	t.Helper()
	return NewRigSwitch(t, nil, extra...)
}

// NewRigSwitch is NewRig with the switch ports' LLDP broken by knobs (rack.SwitchKnobs).
func NewRigSwitch(t testing.TB, knobs map[string]rack.SwitchKnobs, extra ...rack.Node) *Rig {
	t.Helper()
	return newRig(t, rack.Config{Switch: knobs, Extra: extra})
}

// newRig is NewRig with the rack's Switch, Extra and HostNICs from rc.
func newRig(t testing.TB, rc rack.Config) *Rig {
	t.Helper()
	needs(t)
	r := &Rig{t: t, bin: filepath.Join(testenv.Bin(t), "provision"), dir: t.TempDir()}
	// A short state path: the control socket's path must fit in sun_path.
	sd, err := os.MkdirTemp("", "rl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sd) })
	r.stateDir = sd

	r.inv = filepath.Join(r.dir, "inventory")
	if err := os.CopyFS(r.inv, os.DirFS(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab"))); err != nil {
		t.Fatal(err)
	}
	r.arts = filepath.Join(r.dir, "artifacts")
	buildRamdisk(t, filepath.Join(r.arts, "lab"))

	pw := make([]byte, 8)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	r.env = append(os.Environ(), "RACKLIFT_CRED_LAB_BMC_PASSWORD="+password)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rc.Inventory, rc.Dir, rc.NetNS, rc.Password = r.inv, filepath.Join(r.dir, "rack"), "rl-e2e-"+fmt.Sprint(os.Getpid()), password
	rk, err := rack.Start(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	r.rack = rk
	t.Cleanup(func() {
		r.stopServe()
		if t.Failed() {
			r.dumpLogs()
		}
		rk.Close()
	})

	// The provisioning host's side, as an ops engineer sets it up: the server address on
	// its NIC (cabled to the rack's switch).
	if out, code := r.provisionNS("net", "apply", "-i", r.inv, "--trunk", rack.HostNIC,
		"--state", filepath.Join(r.dir, "net-state.json")); code != 0 {
		t.Fatalf("provision net apply: exit %d\n%s", code, out)
	}
	return r
}

// buildRamdisk writes the agent ramdisk as vmlinuz and initrd.img into dir.
func buildRamdisk(t testing.TB, dir string) {
	t.Helper()
	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ramdisk.Build(k, filepath.Join(testenv.Bin(t), "node-agent"), filepath.Join(dir, "initrd.img")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(k.Vmlinuz)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveArgs are the flags serve runs with in every rig: short BMC timeouts and two
// attempts, so a hung BMC fails its node in about a minute.
func (r *Rig) serveArgs() []string { return r.serveArgsOn(rack.HostNIC, r.stateDir) }

// serveArgsOn are serveArgs for a serve on the host NIC iface with its own state dir.
func (r *Rig) serveArgsOn(iface, stateDir string) []string {
	return []string{"serve", "-i", r.inv, "--interface", iface,
		"--pxe-dir", filepath.Join(r.dir, "pxe"), "--artifacts", r.arts, "--state-dir", stateDir,
		"--bmc-timeout", "20s", "--attempts", "2", "--phase-timeout", "powering=1m,booting=15m,agent=15m,validating=15m,deploying=20m,rebooting=15m,installed=15m"}
}

// StartServe runs `provision serve` in the rack's namespace and waits for its API.
func (r *Rig) StartServe() {
	r.t.Helper()
	os.MkdirAll(filepath.Join(r.dir, "pxe"), 0o755)
	r.serveN++
	r.serveOut = filepath.Join(r.dir, fmt.Sprintf("serve-%d.log", r.serveN))
	f, err := os.Create(r.serveOut)
	if err != nil {
		r.t.Fatal(err)
	}
	r.serveLog = f
	cmd := exec.Command("ip", append([]string{"netns", "exec", r.rack.NS().Name, r.bin}, r.serveArgs()...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.env, f, f
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.serve = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.waitAPI(r.stateDir, r.serveOut, exited)
}

// waitAPI waits until the serve with stateDir answers on its control API; it fails the
// test with the end of log if that serve exits first or does not answer within 60 s.
func (r *Rig) waitAPI(stateDir, log string, exited <-chan struct{}) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := api.NewClient("unix://"+api.SocketPath(stateDir), controlToken(stateDir))
		if err == nil {
			_, err = c.Health(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("serve exited at start:\n%s", tail(log, 40))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("serve's API did not answer within 60s: %v\n%s", err, tail(log, 40))
		}
	}
}

func controlToken(stateDir string) string {
	b, _ := os.ReadFile(api.TokenPath(stateDir))
	return strings.TrimSpace(string(b))
}

// killServe sends serve SIGKILL: no shutdown, no flush beyond what it already committed.
func (r *Rig) killServe() {
	r.t.Helper()
	if r.serve == nil {
		return
	}
	r.serve.Process.Signal(syscall.SIGKILL)
	r.serve.Process.Wait()
	r.serve = nil
	r.serveLog.Close()
}

// stopServe ends serve gracefully (the test is over).
func (r *Rig) stopServe() {
	if r.serve == nil {
		return
	}
	r.serve.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.serve.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		r.serve.Process.Kill()
		<-done
	}
	r.serve = nil
	r.serveLog.Close()
}

// provision runs the CLI on the host side (it reaches serve through the state dir).
func (r *Rig) provision(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	cmd := exec.CommandContext(ctx, r.bin, append(args, "--state-dir", r.stateDir)...)
	cmd.Env = r.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		code = -1
		e.WriteString(err.Error())
	}
	return o.String(), e.String(), code
}

// provisionNS runs the CLI inside the rack's namespace (net apply).
func (r *Rig) provisionNS(args ...string) (string, int) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", r.rack.NS().Name, r.bin}, args...)...)
	cmd.Env = r.env
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// UpResult is `provision up -o json`.
type UpResult struct {
	Decisions []lifecycle.Decision `json:"decisions"`
	Nodes     []api.NodeStatus     `json:"nodes"`
	Failed    int                  `json:"failed"`
}

// Up runs `provision up` to the end and returns its final table, as JSON.
func (r *Rig) Up(ctx context.Context, args ...string) (UpResult, string, int) {
	r.t.Helper()
	out, errOut, code := r.provision(ctx, append(append([]string{"up"}, args...), "-o", "json")...)
	var res UpResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		r.t.Fatalf("provision up %s: exit %d, not JSON (%v):\n%s\n%s", strings.Join(args, " "), code, err, out, errOut)
	}
	return res, errOut, code
}

// status is serve's view of every node it knows.
func (r *Rig) status(ctx context.Context) map[string]api.NodeStatus {
	r.t.Helper()
	out, errOut, code := r.provision(ctx, "status", "-o", "json")
	if code != 0 {
		r.t.Fatalf("provision status: exit %d: %s", code, errOut)
	}
	var doc struct {
		Nodes []api.NodeStatus `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		r.t.Fatalf("provision status -o json: %v\n%s", err, out)
	}
	m := map[string]api.NodeStatus{}
	for _, n := range doc.Nodes {
		m[n.Name] = n
	}
	return m
}

// waitFor polls cond until it holds or the timeout passes.
func (r *Rig) waitFor(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(time.Second)
	}
}

// caPin is the fingerprint of serve's CA, as nodes pin it.
func (r *Rig) caPin() string {
	b, err := os.ReadFile(filepath.Join(pki.Dir(r.stateDir), pki.CACertFile))
	if err != nil {
		r.t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		r.t.Fatal("serve's CA is not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		r.t.Fatal(err)
	}
	return pki.Fingerprint(c)
}

// agentPost POSTs body to node's endpoint what (report, bootstrap, ...) of serve's agent
// API from inside the rack's namespace, TLS pinned to caPin, with no client certificate.
func (r *Rig) agentPost(node, caPin, what, body string) (int, error) {
	cfg, err := pki.PinnedClientConfig(caPin, serverIP)
	if err != nil {
		return 0, err
	}
	ns := r.rack.NS()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: dial}}
	req, _ := http.NewRequest("POST", "https://"+net.JoinHostPort(serverIP, "8443")+"/api/v1/nodes/"+node+"/"+what, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (r *Rig) dumpLogs() {
	for i := 1; i <= r.serveN; i++ {
		p := filepath.Join(r.dir, fmt.Sprintf("serve-%d.log", i))
		r.t.Logf("serve run %d, last lines:\n%s", i, tail(p, 60))
	}
	for _, n := range r.rack.Nodes() {
		if g := r.rack.Guest(n); g != nil {
			r.t.Logf("%s serial console, last lines:\n%s", n, g.LogTail(40))
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
