package boot

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	tftpc "github.com/pin/tftp/v3"

	"github.com/racklift/racklift/internal/bench/stats"
	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/pkg/tftp"
)

const (
	stormClients = 500
	stormFile    = 1 << 20
	blksize      = 1468 // what PXE ROMs ask for on Ethernet
	window       = 4    // the windowsize EDK2 (UEFI) asks for
	dhcpNodes    = 1000
	perfRate     = 5000 // exchanges/s offered; the servers answer what they can
	perfSeconds  = 10
	childEnv     = "RACKLIFT_BOOTBENCH_CHILD"
	tftpdEnv     = "RACKLIFT_BOOTBENCH_TFTPD"
	rounds       = 3 // servers alternate, each its best round is reported (the machine is shared)
)

// BenchmarkBootStorm runs once (-benchtime 1x) and prints the figures. It re-runs itself
// inside a fresh network namespace so every socket, daemon and packet stays there.
func BenchmarkBootStorm(b *testing.B) {
	if root := os.Getenv(tftpdEnv); root != "" {
		serveTFTP(b, root)
		return
	}
	if os.Getenv(childEnv) != "" {
		child(b)
		return
	}
	testenv.NeedRoot(b)
	testenv.NeedCommand(b, "ip", "in.tftpd", "dnsmasq", "perfdhcp")
	server := netns.New(b)
	client := netns.New(b)
	// The veth pair perfdhcp talks over: vcl in the client namespace, vsrv in the server's.
	if _, err := client.Veth("vcl", "vsrv", server, 0); err != nil {
		b.Fatal(err)
	}
	must(b, server.AddAddr("vsrv", "10.202.128.1/17"))
	must(b, client.AddAddr("vcl", "10.202.128.2/17"))
	cmd := server.Command(context.Background(), os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkBootStorm$", "-test.benchtime=1x", "-test.timeout=25m")
	cmd.Env = append(os.Environ(), childEnv+"="+client.Name)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("benchmark inside %s: %v", server.Name, err)
	}
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// child runs inside the server namespace; perfdhcp runs in the client namespace.
func child(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, stormFile)
	rand.Read(data)
	must(b, os.WriteFile(filepath.Join(dir, "boot.bin"), data, 0o644))

	parts := os.Getenv("BOOTBENCH_PARTS") // tftp, dhcp or both (default)
	servers := []tftpServer{
		{"racklift", func() (func(), error) { return startRacklift(dir) }},
		{"tftpd-hpa", func() (func(), error) {
			return startCmd(dir, "in.tftpd", "--foreground", "--listen", "--address", "127.0.0.1:69", "--user", "root", "--secure", dir)
		}},
		{"dnsmasq", func() (func(), error) {
			return startCmd(dir, "dnsmasq", "--keep-in-foreground", "--port=0", "--enable-tftp", "--tftp-root="+dir, "--tftp-max=1000",
				"--interface=lo", "--bind-interfaces", "--user=root", "--pid-file="+filepath.Join(dir, "dnsmasq-tftp.pid"), "--log-facility=/dev/null")
		}},
	}
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 69}
	clients := []stormClient{
		{"lock-step clients (pin/tftp's client: blksize 1468, no windowsize; as iPXE and BIOS PXE ROMs ask)", func() (int64, error) {
			c, err := tftpc.NewClient(server.String())
			if err != nil {
				return 0, err
			}
			c.SetBlockSize(blksize)
			c.SetTimeout(2 * time.Second)
			c.SetRetries(5)
			wt, err := c.Receive("boot.bin", "octet")
			if err != nil {
				return 0, err
			}
			return wt.WriteTo(io.Discard)
		}},
		{fmt.Sprintf("windowsize clients (RFC 7440: blksize 1468, windowsize %d, as EDK2 UEFI PXE asks; a server without windowsize answers lock-step)", window),
			func() (int64, error) { return fetchWindowed(server, "boot.bin", blksize, window, 2*time.Second, 5) }},
	}
	for i, cl := range clients {
		// BOOTBENCH_CLIENTS=lock-step or windowsize runs one storm (experiments).
		if only := os.Getenv("BOOTBENCH_CLIENTS"); parts == "dhcp" || only == "lock-step" && i != 0 || only == "windowsize" && i != 1 {
			continue
		}
		tftpStorm(b, cl, servers, len(data))
	}
	if parts == "tftp" || os.Getenv("BOOTBENCH_ONLY") != "" {
		return
	}

	clientNS := os.Getenv(childEnv)
	p := benchPlan()
	macs := filepath.Join(dir, "macs.txt")
	var ml bytes.Buffer
	for _, np := range p.Nodes {
		ml.WriteString(np.Reservation.MACString + "\n")
	}
	must(b, os.WriteFile(macs, ml.Bytes(), 0o644))
	fmt.Printf("\nbench-boot: DHCP answered rate: perfdhcp -r %d for %d s over a veth pair, %d reserved MACs (both servers answer reservations)\n",
		perfRate, perfSeconds, dhcpNodes)
	fmt.Printf("%-10s %14s %12s %12s\n", "server", "DORA/s", "offer drops", "ack drops")
	bestRate := map[string]float64{}
	for round := 1; round <= rounds; round++ {
		for _, srv := range []struct {
			name  string
			start func() (func(), error)
		}{
			{"racklift", func() (func(), error) { return startRacklifDHCP(p) }},
			{"dnsmasq", func() (func(), error) {
				conf := filepath.Join(dir, "dnsmasq-dhcp.conf")
				var buf bytes.Buffer
				if err := dhcp.ExportDnsmasq(&buf, p, dhcp.DnsmasqOptions{}); err != nil {
					return nil, err
				}
				if err := os.WriteFile(conf, buf.Bytes(), 0o644); err != nil {
					return nil, err
				}
				// --no-ping: dnsmasq otherwise pings each address before offering it (3 s
				// each); racklift answers reservations without a ping too.
				return startCmd(dir, "dnsmasq", "--keep-in-foreground", "--port=0", "--conf-file="+conf, "--interface=vsrv",
					"--bind-interfaces", "--no-ping", "--quiet-dhcp", "--leasefile-ro", "--dhcp-lease-max=100000", "--user=root",
					"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq-dhcp.pid"), "--log-facility=/dev/null")
			}},
		} {
			stop, err := srv.start()
			if err != nil {
				b.Fatalf("%s: %v", srv.name, err)
			}
			time.Sleep(500 * time.Millisecond)
			out, err := exec.Command("ip", "netns", "exec", clientNS, "perfdhcp", "-4", "-l", "vcl", "-r", strconv.Itoa(perfRate),
				"-p", strconv.Itoa(perfSeconds), "-M", macs).CombinedOutput()
			stop()
			if err != nil && !bytes.Contains(out, []byte("Rate:")) {
				b.Fatalf("perfdhcp against %s: %v\n%s", srv.name, err, out)
			}
			rate, drops := parsePerf(string(out))
			bestRate[srv.name] = max(bestRate[srv.name], rate)
			fmt.Printf("%-10s %14.1f %12s %12s   (round %d)\n", srv.name, rate, drops[0], drops[1], round)
		}
	}
	rates := []float64{bestRate["racklift"], bestRate["dnsmasq"]}
	fmt.Printf("best round of each: racklift %.1f DORA/s, dnsmasq %.1f DORA/s\n", rates[0], rates[1])
	fmt.Printf("racklift / dnsmasq DHCP answered rate: %.2fx\n", stats.Ratio(rates[0], rates[1]))
	verdict := "held"
	if rates[0] < rates[1] {
		verdict = "NOT held"
	}
	fmt.Printf("goal (racklift at least dnsmasq's rate): %s\n\n", verdict)
}

type storm struct {
	name     string
	ok       int
	failed   int
	bytes    int64
	wall     time.Duration
	times    []time.Duration
	firstErr error
	srvCPU   time.Duration // the server process's CPU time (children included)
	cliCPU   time.Duration // the clients' (this process's)
}

func (s storm) mbps() float64 { return float64(s.bytes) / 1e6 / s.wall.Seconds() }

// p is the q-th percentile of the clients' transfer times, in seconds.
func (s storm) p(q int) float64 { return stats.Quantile(s.times, float64(q)/100).Seconds() }

type tftpServer struct {
	name  string
	start func() (stop func(), err error)
}

type stormClient struct {
	desc  string
	fetch func() (int64, error)
}

// tftpStorm runs rounds of the storm with cl against every server in turn (servers
// alternate so a burst of load from elsewhere on the machine hits all of them) and
// prints each round, the best round of each and the ratios against the better peer.
func tftpStorm(b *testing.B, cl stormClient, servers []tftpServer, size int) {
	fmt.Printf("\nbench-boot: TFTP boot storm: %d clients fetch a %d KiB file at once, loopback in a private netns\n  %s\n",
		stormClients, size>>10, cl.desc)
	fmt.Printf("%-10s %8s %7s %8s %8s %8s %6s %8s %8s\n", "server", "MB/s", "failed", "wall_s", "p50_s", "p99_s", "ok", "srv_cpu", "cli_cpu")
	best := map[string]storm{}
	failed := map[string]int{}
	var ratios []float64 // racklift / better peer, round by round
	for round := 1; round <= rounds; round++ {
		got := map[string]float64{}
		for _, srv := range servers {
			if only := os.Getenv("BOOTBENCH_ONLY"); only != "" && only != srv.name {
				continue
			}
			stop, err := srv.start()
			if err != nil {
				b.Fatalf("%s: %v", srv.name, err)
			}
			waitTFTP(b, srv.name)
			cpu0, self0 := stats.ProcCPU(lastPid), stats.SelfCPU()
			r := runStorm(srv.name, size, cl.fetch)
			r.srvCPU, r.cliCPU = stats.ProcCPU(lastPid)-cpu0, stats.SelfCPU()-self0
			stop()
			fmt.Printf("%-10s %8.1f %7d %8.2f %8.3f %8.3f %6d %8.2f %8.2f   (round %d)\n", r.name, r.mbps(), r.failed, r.wall.Seconds(), r.p(50), r.p(99), r.ok, r.srvCPU.Seconds(), r.cliCPU.Seconds(), round)
			if r.firstErr != nil {
				fmt.Printf("           first failure: %v\n", r.firstErr)
			}
			failed[srv.name] += r.failed
			if prev, seen := best[srv.name]; !seen || r.mbps() > prev.mbps() {
				best[srv.name] = r
			}
			got[srv.name] = r.mbps()
		}
		if peer := max(got["tftpd-hpa"], got["dnsmasq"]); peer > 0 && got["racklift"] > 0 {
			ratios = append(ratios, got["racklift"]/peer)
		}
	}
	fmt.Println("best round of each (failed: summed over all rounds):")
	for _, srv := range servers {
		if r, ok := best[srv.name]; ok {
			fmt.Printf("%-10s %8.1f %7d %8.2f %8.3f %8.3f %6d %8.2f %8.2f\n", r.name, r.mbps(), failed[srv.name], r.wall.Seconds(), r.p(50), r.p(99), r.ok, r.srvCPU.Seconds(), r.cliCPU.Seconds())
		}
	}
	if len(ratios) == rounds {
		peer := max(best["tftpd-hpa"].mbps(), best["dnsmasq"].mbps())
		fmt.Printf("racklift / better peer TFTP throughput: %.2fx (best rounds); round by round %.2fx min, %.2fx median\n",
			best["racklift"].mbps()/peer, slices.Min(ratios), stats.Median(ratios))
		fmt.Printf("failed transfers over %d rounds: racklift %d, tftpd-hpa %d, dnsmasq %d\n", rounds,
			failed["racklift"], failed["tftpd-hpa"], failed["dnsmasq"])
		verdict := "held"
		if best["racklift"].mbps() < peer || failed["racklift"] > 0 {
			verdict = "NOT held"
		}
		fmt.Printf("goal (racklift at least the better peer's throughput, no failed transfer): %s\n", verdict)
	}
}

// runStorm starts every client at once and waits for all.
func runStorm(name string, size int, fetch func() (int64, error)) storm {
	s := storm{name: name}
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range stormClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			start := time.Now()
			n, err := fetch()
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && n != int64(size) {
				err = fmt.Errorf("got %d bytes, want %d", n, size)
			}
			if err != nil {
				s.failed++
				if s.firstErr == nil {
					s.firstErr = err
				}
				return
			}
			s.ok++
			s.bytes += n
			s.times = append(s.times, d)
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	s.wall = time.Since(start)
	return s
}

// startRacklift runs racklift's TFTP server in its own process, as the peers run, so the
// clients' goroutines do not share its scheduler.
func startRacklift(dir string) (func(), error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkBootStorm$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), tftpdEnv+"="+dir)
	if p := os.Getenv("BOOTBENCH_TFTPD_PROCS"); p != "" { // experiments: the server's GOMAXPROCS
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+p)
	}
	cmd.Stderr = os.Stderr
	return start(cmd)
}

// serveTFTP is that process: pkg/tftp with events (logging discarded) and its default
// settings, as serve runs it.
func serveTFTP(b *testing.B, root string) {
	s, err := tftp.New(tftp.Config{Root: root, Events: events.New(nil, nil)})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := tftp.Listen("127.0.0.1:69")
	if err != nil {
		b.Fatal(err)
	}
	if out := os.Getenv("BOOTBENCH_CPUPROFILE"); out != "" { // experiments: the server's profile
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		time.AfterFunc(5*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
	}
	s.Serve(conn)
}

// startCmd runs a peer server, its output kept out of the bench's.
func startCmd(dir, name string, args ...string) (func(), error) {
	cmd := exec.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	return start(cmd)
}

// start starts the server under test, records its pid for its CPU time, and returns
// what stops it.
func start(cmd *exec.Cmd) (func(), error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lastPid = cmd.Process.Pid
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
	}, nil
}

// waitTFTP fetches once so the server is known to answer before the storm.
func waitTFTP(b *testing.B, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := tftpc.NewClient("127.0.0.1:69")
		c.SetTimeout(200 * time.Millisecond)
		c.SetRetries(1)
		wt, err := c.Receive("boot.bin", "octet")
		if err == nil {
			if _, err = wt.WriteTo(io.Discard); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never answered TFTP: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchPlan has dhcpNodes reservations on 10.202.128.0/17, served from 10.202.128.1.
func benchPlan() *plan.Plan {
	p := &plan.Plan{Site: "bench"}
	prefix := netip.MustParsePrefix("10.202.128.0/17")
	for i := range dhcpNodes {
		mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x02, byte(i >> 8), byte(i)}
		ip := netip.AddrFrom4([4]byte{10, 202, byte(129 + i/250), byte(1 + i%250)})
		name := fmt.Sprintf("bench-%04d", i)
		p.Nodes = append(p.Nodes, &plan.NodePlan{
			Node: name,
			Reservation: plan.Reservation{
				Mode: dhcp.ModeReservation, Network: "prov", Interface: "eth0", MAC: mac, MACString: mac.String(),
				IP: ip, Prefix: prefix, Gateway: netip.MustParseAddr("10.202.128.1"), MTU: 1500, Hostname: name,
				LeaseSeconds: 3600, Server: netip.MustParseAddr("10.202.128.1"),
			},
			Boot: plan.Boot{BIOSFile: plan.FileBIOS, UEFIFile: plan.FileUEFI, ARM64File: plan.FileARM64UEFI,
				ScriptURL: "http://10.202.128.1:8080/ipxe/" + mac.String(), HTTPBootURL: "http://10.202.128.1:8080/pxe/ipxe.efi"},
		})
	}
	return p
}

func startRacklifDHCP(p *plan.Plan) (func(), error) {
	h := &dhcp.Handler{Nodes: p, Events: events.New(nil, nil), Network: "prov", ServerIP: netip.MustParseAddr("10.202.128.1")}
	s, err := dhcp.Listen("vsrv", nil, dhcp.PortDHCP, h, nil)
	if err != nil {
		return nil, err
	}
	go s.Serve()
	return func() { s.Close() }, nil
}

var (
	rateRe = regexp.MustCompile(`Rate: ([0-9.]+) 4-way exchanges/second`)
	dropRe = regexp.MustCompile(`drops: (\d+)`)
)

func parsePerf(out string) (float64, [2]string) {
	var rate float64
	if m := rateRe.FindAllStringSubmatch(out, -1); len(m) > 0 {
		rate, _ = strconv.ParseFloat(m[len(m)-1][1], 64)
	}
	drops := [2]string{"?", "?"}
	if m := dropRe.FindAllStringSubmatch(out, -1); len(m) >= 2 {
		drops = [2]string{m[len(m)-2][1], m[len(m)-1][1]}
	}
	return rate, drops
}

// lastPid is the server process started last (the one under test).
var lastPid int
