package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/state"
	"github.com/racklift/racklift/templates"
)

// Tests for the mutants `make mutate` left alive in pkg/server (issue 20): Run's DHCP
// listen, the inventory watcher, the transitions loop's back-off, node-agent beside the
// executable, the HTTP header timeout.

// hangGuard only turns a hang into a failure.
const hangGuard = 2 * time.Minute

// waitUntil polls cond until it holds; the deadline is a hang guard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// loopbackLab is the lab inventory moved onto 127.0.0.0/24 (as startProvisioning does):
// serve on 127.0.0.1 is on its provisioning network, which serves DHCP (reservation).
func loopbackLab(t *testing.T) string {
	t.Helper()
	dir := copyExample(t, "lab")
	for _, f := range []string{"site.yaml", filepath.Join("racks", "lab.yaml")} {
		p := filepath.Join(dir, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "10.204.0.", "127.0.0.")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loopbackConfig is serve on 127.0.0.1 with free HTTP, TFTP and DHCP ports.
func loopbackConfig(t *testing.T, dhcpPort int) Config {
	t.Helper()
	return Config{Inventory: loopbackLab(t), Listen: "127.0.0.1", HTTPPort: freePort(t, "tcp"), TFTPPort: freePort(t, "udp"), DHCPPort: dhcpPort,
		PXEDir: t.TempDir(), Templates: templates.FS}
}

// withCore adds the provisioning core (state in a short temp dir: the control socket's
// path must fit in sun_path).
func withCore(t *testing.T, cfg Config) Config {
	t.Helper()
	stateDir, err := os.MkdirTemp("", "rl-lived-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	cfg.StateDir = stateDir
	cfg.Provision = &Provision{Power: &countingPower{cycles: map[string]int{}}, AgentListen: "127.0.0.1:0"}
	return cfg
}

// TestDHCPListensOnTheListenAddressOnly: with --listen, serve's DHCP socket holds its
// port on that address only (another DHCP server may serve another address), and is
// bound before serve says it serves; the boot HTTP server drops a client that sends no
// request header. Mutants (server.go Run): `s.cfg.Interface == ""` negated (DHCP bound to
// 0.0.0.0, taking the port on every address); `s.core.Instance() != ""` negated (DHCP
// left to the shared-state election, which a lone serve runs late).
func TestDHCPListensOnTheListenAddressOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		core bool
	}{
		{name: "boot services only", core: false},
		{name: "with the provisioning core", core: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t, "udp")
			cfg := loopbackConfig(t, port)
			cfg.HTTPHeaderTimeout = 100 * time.Millisecond
			if tc.core {
				cfg = withCore(t, cfg)
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			runServer(t, s)
			for host, held := range map[string]bool{"127.0.0.1": true, "127.0.0.2": false} {
				c, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(port)))
				if err == nil {
					c.Close()
				}
				if got := err != nil; got != held {
					t.Errorf("UDP port %d on %s held by serve: %v, want %v (%v)", port, host, got, held, err)
				}
			}
			conn, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.HTTPPort)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(hangGuard))
			if _, err := io.ReadAll(conn); err != nil {
				t.Errorf("a client that sent no header was not dropped: %v", err)
			}
		})
	}
}

// TestDHCPListenFailureEndsServe: when DHCP cannot listen (its port taken on serve's
// address), Run fails naming it rather than serving without DHCP. Mutants (server.go
// Run): the listen error check negated (a nil server served: a crash), and, with the
// core, `s.core.Instance() != ""` negated (the failure only logged by the election).
func TestDHCPListenFailureEndsServe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		core bool
	}{
		{name: "boot services only", core: false},
		{name: "with the provisioning core", core: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			cfg := loopbackConfig(t, taken.LocalAddr().(*net.UDPAddr).Port)
			if tc.core {
				cfg = withCore(t, cfg)
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			select {
			case err := <-done:
				done <- err // for the cleanup
				if err == nil || !strings.Contains(err.Error(), "dhcp") {
					t.Errorf("Run = %v, want the DHCP listen's error", err)
				}
			case <-s.ready:
				t.Error("serve started without DHCP, its port taken")
			case <-time.After(hangGuard):
				t.Fatal("Run neither failed nor served")
			}
		})
	}
}

// singleFileLab is the lab inventory as one file (site and racks together) in its own
// directory.
func singleFileLab(t *testing.T) string {
	t.Helper()
	src := copyExample(t, "lab")
	site, err := os.ReadFile(filepath.Join(src, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rack, err := os.ReadFile(filepath.Join(src, "racks", "lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(site)
	b.WriteString("\nracks:\n")
	first := true
	for _, l := range strings.Split(string(rack), "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if first {
			b.WriteString("  - " + l + "\n")
			first = false
			continue
		}
		b.WriteString("    " + l + "\n")
	}
	p := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// reloadCount is the applied (withErr false) or rejected reloads so far.
func reloadCount(s *Server, withErr bool) int {
	n := 0
	for _, e := range s.Events.Recent("") {
		if e.Kind == events.Reload && (e.Err != "") == withErr {
			n++
		}
	}
	return n
}

// TestWatchSingleFileInventory: an inventory in one file is watched through its
// directory, so each edit an editor makes by renaming a new file over it is reloaded,
// not only the first. Mutant reload.go watch `err == nil` negated: the file's own
// directory was not watched (and watching "FILE/racks" failed).
func TestWatchSingleFileInventory(t *testing.T) {
	t.Parallel()
	file := singleFileLab(t)
	s, err := New(Config{Inventory: file, Listen: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.watch(ctx)
	if err != nil {
		t.Fatalf("watching a single-file inventory: %v", err)
	}
	defer w.Close()
	if !slices.Contains(w.WatchList(), filepath.Dir(file)) {
		t.Errorf("watched %v, want the inventory file's directory %s", w.WatchList(), filepath.Dir(file))
	}
	ip := func() string { return s.Current().Node("lab-01").Reservation.IP.String() }
	for _, addr := range []string{"10.204.0.21", "10.204.0.31"} {
		edit(t, file, "address: "+ip()+",", "address: "+addr+",")
		waitUntil(t, "lab-01 at "+addr, func() bool { return ip() == addr })
	}
}

// TestWatchAddsACreatedRacksDir: a racks directory created after serve started is
// watched from then on, and a rack file written there is reloaded; a directory of any
// other name is not watched. Mutant reload.go watch `== inventory.RacksDir` negated.
func TestWatchAddsACreatedRacksDir(t *testing.T) {
	t.Parallel()
	src := copyExample(t, "lab")
	rack, err := os.ReadFile(filepath.Join(src, "racks", "lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "racks")); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Inventory: src, Listen: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	racks, notes := filepath.Join(src, "racks"), filepath.Join(src, "notes")
	if err := os.Mkdir(notes, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(racks, 0o755); err != nil {
		t.Fatal(err)
	}
	// The racks directory's creation is reloaded; by then both creations were handled.
	waitUntil(t, "the reload for the new racks directory", func() bool { return reloadCount(s, false) >= 1 })
	if got := w.WatchList(); !slices.Contains(got, racks) || slices.Contains(got, notes) {
		t.Fatalf("watched %v, want %s and not %s", got, racks, notes)
	}
	tmp := filepath.Join(racks, ".lab.yaml.tmp")
	if err := os.WriteFile(tmp, rack, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(racks, "lab.yaml")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "lab-01 from the new rack file", func() bool { return s.Current().Node("lab-01") != nil })
}

// failingWaits is a state whose log wait fails at once; its nth wait ends ctx first.
type failingWaits struct {
	state.Store
	waits, nth int
	cancel     context.CancelFunc
}

func (f *failingWaits) List() ([]state.Node, error) { return nil, nil }
func (f *failingWaits) LastSeq() (uint64, error)    { return 0, nil }
func (f *failingWaits) Wait(context.Context, uint64) error {
	f.waits++
	if f.waits == f.nth {
		f.cancel()
	}
	return errors.New("state damaged")
}

// TestTransitionsBackOff: the transitions loop pauses after each failed wait for the
// state's log while serve runs, and not once serve stops. Mutant metrics.go
// followTransitions `ctx.Err() == nil` negated: a damaged store made it spin.
func TestTransitionsBackOff(t *testing.T) {
	t.Parallel()
	m := newOpsMetrics(prometheus.NewRegistry())
	pauses := 0
	m.pause = func() { pauses++ }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &failingWaits{nth: 3, cancel: cancel}
	m.followTransitions(st)(ctx)
	if st.waits != 3 || pauses != 2 {
		t.Errorf("%d failed waits, %d pauses; want 3 and a pause after each of the 2 while running", st.waits, pauses)
	}
}

// TestAgentNextToExecutable: node-agent beside the running binary is served to
// installers when no --agent-binary is given; a directory of that name is not.
// Mutant server.go agentNextToExecutable: os.Executable's error check negated.
func TestAgentNextToExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(exe), "node-agent")
	if _, err := os.Lstat(p); err == nil {
		t.Fatalf("%s exists already", p)
	}
	t.Cleanup(func() { os.RemoveAll(p) })
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := agentNextToExecutable(); got != "" {
		t.Errorf("a directory named node-agent: %q, want none", got)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := agentNextToExecutable(); got != p {
		t.Errorf("agentNextToExecutable() = %q, want %s", got, p)
	}
}

// TestHTTPHeaderTimeoutDefault: the boot HTTP server's header timeout is 10s unless set.
// Mutants (server.go New): the default's comparison and value.
func TestHTTPHeaderTimeoutDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{set: 0, want: 10 * time.Second},
		{set: -time.Second, want: 10 * time.Second},
		{set: 3 * time.Second, want: 3 * time.Second},
	} {
		s, err := New(Config{Inventory: copyExample(t, "lab"), Listen: "127.0.0.1", HTTPHeaderTimeout: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.cfg.HTTPHeaderTimeout; got != tc.want {
			t.Errorf("HTTPHeaderTimeout %v: %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestBindAddr: serve listens on --listen's IPv4 address or on --interface's first
// IPv4 address, never both given, and refuses what is neither. Mutants (server.go
// bindAddr): the interface lookup's and the address filter's checks negated.
func TestBindAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" when bindAddr must fail
	}{
		{name: "listen", cfg: Config{Listen: "127.0.0.1"}, want: "127.0.0.1"},
		{name: "interface lo", cfg: Config{Interface: "lo"}, want: "127.0.0.1"},
		{name: "both", cfg: Config{Interface: "lo", Listen: "127.0.0.1"}},
		{name: "listen IPv6", cfg: Config{Listen: "::1"}},
		{name: "listen not an address", cfg: Config{Listen: "serve.lab"}},
		{name: "no such interface", cfg: Config{Interface: "rl-nonexistent0"}},
		{name: "neither", cfg: Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := bindAddr(tc.cfg)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("bindAddr = %s, want an error", got)
			case tc.want != "" && (err != nil || got.String() != tc.want):
				t.Errorf("bindAddr = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestServeRefusesABadConfig: Serve returns New's error without serving. Mutant
// server.go Serve's error check negated (Run on a nil server).
func TestServeRefusesABadConfig(t *testing.T) {
	t.Parallel()
	if err := Serve(context.Background(), Config{Inventory: copyExample(t, "lab")}); err == nil {
		t.Error("Serve without --listen or --interface succeeded")
	}
}

// seqWaits is a state whose log grows by one event per wait; it records where each
// wait starts and ends ctx at its nth.
type seqWaits struct {
	state.Store
	seq    uint64
	afters []uint64
	nth    int
	cancel context.CancelFunc
}

func (s *seqWaits) List() ([]state.Node, error) { return nil, nil }
func (s *seqWaits) LastSeq() (uint64, error)    { return s.seq, nil }
func (s *seqWaits) Wait(_ context.Context, after uint64) error {
	s.afters = append(s.afters, after)
	if len(s.afters) == s.nth {
		s.cancel()
		return context.Canceled
	}
	s.seq++
	return nil
}

// TestTransitionsWaitPastTheLastSeen: each wait for the state's log starts after the
// last event already looked at. Mutant metrics.go followTransitions `err == nil` of
// LastSeq negated: every wait started at serve's start, returned at once, and the loop
// spun re-listing every node.
func TestTransitionsWaitPastTheLastSeen(t *testing.T) {
	t.Parallel()
	m := newOpsMetrics(prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &seqWaits{seq: 7, nth: 3, cancel: cancel}
	m.followTransitions(st)(ctx)
	if want := []uint64{7, 8, 9}; !slices.Equal(st.afters, want) {
		t.Errorf("waits started after %v, want %v", st.afters, want)
	}
}
