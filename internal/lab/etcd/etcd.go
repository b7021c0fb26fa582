// Package etcd is a test rig: a real etcd cluster (Debian's etcd-server binary) of n
// members on loopback, started by the tests themselves, with its processes and data
// directories removed however the test ends. Members can be killed, paused, resumed and
// restarted to test what racklift does when a member fails.
package etcd

import (
	"context"
	"errors"
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

	"github.com/racklift/racklift/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Binary is the etcd server the rig runs (scripts/packages/scale.txt: etcd-server).
const Binary = "etcd"

// MaxRequestBytes is the largest request the rig's members accept: a node record may be
// as large as state.MaxRecord (about 1.25 MiB) plus its events, over etcd's 1.5 MiB
// default once framed. docs/scale.md gives the same flag for production members.
const MaxRequestBytes = 4 << 20

// Member is one etcd server process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed once the process has been waited for.
	exited chan struct{}
	args   []string
}

// Cluster is n members forming one etcd cluster.
type Cluster struct {
	Members []*Member
	bin     string
	dir     string
	opts    Options
}

// Options place the members elsewhere than this process's network namespace.
type Options struct {
	// NetNS runs the members inside that named network namespace (ip netns exec): their
	// loopback URLs are that namespace's, e.g. for serve instances running there.
	NetNS string
	// Dial reaches a member's client address (host:port) from this process; needed with
	// NetNS for Client and the health check.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Start starts an n-member cluster under t (skipping, or failing under
// RACKLIFT_INTEGRATION=1, when etcd is not installed) and stops it when t ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith is Start with the members placed by o.
func StartWith(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	bin := testenv.NeedCommand(t, Binary)
	if bin == nil {
		return nil
	}
	c, err := StartClusterWith(bin[0], t.TempDir(), n, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartCluster starts n members with data under dir and waits until the cluster commits
// a write. On error everything it started is stopped.
func StartCluster(bin, dir string, n int) (*Cluster, error) {
	return StartClusterWith(bin, dir, n, Options{})
}

// StartClusterWith is StartCluster with the members placed by o.
func StartClusterWith(bin, dir string, n int, o Options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("etcd rig: %d members", n)
	}
	if o.NetNS != "" && o.Dial == nil {
		return nil, fmt.Errorf("etcd rig: members in namespace %s but no Dial to reach them", o.NetNS)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd rig: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir, opts: o}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.DataDir = filepath.Join(dir, m.Name)
		m.LogPath = filepath.Join(dir, m.Name+".log")
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := fmt.Sprintf("racklift-lab-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, m := range c.Members {
		m.args = []string{
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--max-request-bytes", fmt.Sprint(MaxRequestBytes),
			// A loaded 2-core test machine: elections must not flap under load.
			"--heartbeat-interval", "200",
			"--election-timeout", "2000",
			"--logger", "zap",
			"--log-level", "warn",
		}
		if err := c.start(m); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitHealthy(90 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(m *Member) error {
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("etcd rig: %w", err)
	}
	cmd := exec.Command(c.bin, m.args...)
	if c.opts.NetNS != "" {
		// ip execs etcd: the process, its signals and Pdeathsig are etcd's own.
		cmd = exec.Command("ip", append([]string{"netns", "exec", c.opts.NetNS, c.bin}, m.args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (a signal to the test's group does not pause it) and killed
	// with the test binary even when the test is killed by -timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("etcd rig: start %s: %w", m.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	return nil
}

// Client is a client of every member.
func (c *Cluster) Client() (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
	if c.opts.Dial != nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithContextDialer(c.opts.Dial)}
	}
	return clientv3.New(cfg)
}

// WaitHealthy waits until a write through the live members commits.
func (c *Cluster) WaitHealthy(within time.Duration) error {
	cli, err := c.Client()
	if err != nil {
		return fmt.Errorf("etcd rig: %w", err)
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Put(ctx, "/racklift-lab/health", time.Now().String())
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd rig: cluster %v not healthy after %s: %w%s", c.Endpoints(), within, err, c.logTails())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, m := range c.Members {
		data, _ := os.ReadFile(m.LogPath)
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n--- %s log (%s):\n%s", m.Name, m.LogPath, data)
	}
	return b.String()
}

// Kill SIGKILLs member i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	m := c.Members[i]
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("etcd rig: %s is not running", m.Name)
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused member dies too
	cmd.Process.Kill()
	<-exited
	m.mu.Lock()
	m.cmd = nil
	m.mu.Unlock()
	return nil
}

// Restart starts a killed member i again on its data directory.
func (c *Cluster) Restart(i int) error {
	m := c.Members[i]
	m.mu.Lock()
	running := m.cmd != nil
	m.mu.Unlock()
	if running {
		return fmt.Errorf("etcd rig: %s is running", m.Name)
	}
	for j, a := range m.args {
		if a == "--initial-cluster-state" {
			m.args[j+1] = "existing"
		}
	}
	return c.start(m)
}

// Stop kills every member and removes the data directories.
func (c *Cluster) Stop() {
	for i, m := range c.Members {
		m.mu.Lock()
		running := m.cmd != nil
		m.mu.Unlock()
		if running {
			c.Kill(i)
		}
	}
	os.RemoveAll(c.dir)
}

// freePorts returns n loopback TCP ports free at the time of asking.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcd rig: free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// errNotRunning is returned by signals to a member that is not running.
var errNotRunning = errors.New("etcd rig: member not running")

// Signal sends sig to member i (SIGSTOP and SIGCONT pause and resume it).
func (c *Cluster) Signal(i int, sig syscall.Signal) error {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return fmt.Errorf("%w: %s", errNotRunning, m.Name)
	}
	return m.cmd.Process.Signal(sig)
}
