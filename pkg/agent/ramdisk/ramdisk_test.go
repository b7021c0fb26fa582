package ramdisk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/initramfs"
	"github.com/racklift/racklift/pkg/pki"
)

// Acceptance: a QEMU guest booted with the agent ramdisk gets an address by DHCP,
// exchanges the bootstrap from its kernel command line for its certificate at an agent
// API in the test (TLS pinned to the test's CA), reports over mutual TLS, and the report
// lists the guest's disk, NIC and memory; the bootstrap never shows on its console.
func TestGuestBootsRamdiskAndReportsHardware(t *testing.T) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "dnsmasq", "busybox", "apt-get", "dpkg", "depmod")
	bin := filepath.Join(testenv.Bin(t), "node-agent")
	testenv.NeedFile(t, bin)
	t.Parallel()

	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.gz")
	if err := Build(k, bin, initrd); err != nil {
		t.Fatal(err)
	}

	// 10.201.S.0/24, the agent area's range, S from the PID so parallel runs differ.
	subnet := 10 + os.Getpid()%240
	gw := fmt.Sprintf("10.201.%d.1", subnet)
	ns := netns.New(t)
	br := netns.IfName("agbr")
	if _, err := ns.Bridge(br, 0); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddAddr(br, gw+"/24"); err != nil {
		t.Fatal(err)
	}
	tap := netns.IfName("agtap")
	brLink, _ := ns.Link(br)
	if _, err := ns.Tap(tap, brLink); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dm := ns.Command(ctx, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface="+br, "--bind-interfaces", "--except-interface=lo",
		fmt.Sprintf("--dhcp-range=10.201.%d.100,10.201.%d.150,255.255.255.0,1h", subnet, subnet),
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--user=root", "--log-dhcp", "--log-facility="+filepath.Join(dir, "dnsmasq.log"))
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dm.Process.Kill(); dm.Wait() })

	// The agent API, listening inside the namespace, with a CA of its own.
	const bootstrap = "ramdisk-bootstrap-5b1f0c9e"
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{gw})
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan check.Report, 4)
	var mu sync.Mutex
	var hellos []string
	exchanged := 0
	mux := http.NewServeMux()
	authed := func(w http.ResponseWriter, r *http.Request) bool {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != "lab-01" || r.PathValue("name") != "lab-01" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /api/v1/nodes/{name}/bootstrap", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Bootstrap, CSR string }
		json.NewDecoder(r.Body).Decode(&req)
		csr, err := pki.ParseCSR([]byte(req.CSR))
		mu.Lock()
		defer mu.Unlock()
		if req.Bootstrap != bootstrap || exchanged > 0 || err != nil {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		exchanged++
		c, _ := ca.IssueClient(r.PathValue("name"), csr.PublicKey, time.Now(), time.Hour)
		json.NewEncoder(w).Encode(map[string]string{"certificate": string(pki.CertPEM(c))})
	})
	mux.HandleFunc("GET /api/v1/nodes/{name}/expect", func(w http.ResponseWriter, r *http.Request) {
		if authed(w, r) {
			io.WriteString(w, `{"node":"lab-01","storage":[{"mount":"/scratch","min_write_mbps":1}]}`)
		}
	})
	mux.HandleFunc("POST /api/v1/nodes/{name}/hello", func(w http.ResponseWriter, r *http.Request) {
		if authed(w, r) {
			var b struct{ Stage string }
			json.NewDecoder(r.Body).Decode(&b)
			mu.Lock()
			hellos = append(hellos, b.Stage)
			mu.Unlock()
			io.WriteString(w, `{"phase":"checking"}`)
		}
	})
	mux.HandleFunc("POST /api/v1/nodes/{name}/report", func(w http.ResponseWriter, r *http.Request) {
		if !authed(w, r) {
			return
		}
		var rep check.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reports <- rep
		io.WriteString(w, `{"phase":"ready"}`)
	})
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", gw+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: ca.ServerTLSConfig()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 96<<20); err != nil {
		t.Fatal(err)
	}
	mac := fmt.Sprintf("52:54:00:c9:%02x:01", subnet)
	g := vm.StartT(t, vm.Config{
		Name: "agent-ramdisk", Dir: dir, MemoryMB: 512,
		Kernel: k.Vmlinuz, Initrd: initrd,
		Append: fmt.Sprintf("quiet racklift.api=https://%s racklift.ca=%s racklift.node=lab-01 racklift.bootstrap=%s racklift.after=poweroff", ln.Addr(), ca.Fingerprint(), bootstrap),
		NetNS:  ns.Name,
		NICs:   []vm.NIC{{Tap: tap, MAC: mac}},
		Disk:   disk,
	})

	var rep check.Report
	select {
	case rep = <-reports:
	case <-time.After(8 * time.Minute):
		l, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.log"))
		t.Fatalf("no report from the guest\nserial:\n%s\ndnsmasq:\n%s", g.LogTail(60), l)
	}
	if _, err := g.WaitForLine(regexp.MustCompile(`racklift-agent: report delivered`), 2*time.Minute); err != nil {
		t.Errorf("guest did not log the delivery: %v\n%s", err, g.LogTail(40))
	}

	if strings.Contains(g.Log(), bootstrap) {
		t.Errorf("the bootstrap secret is on the guest's serial console:\n%s", g.LogTail(40))
	}

	hwInv := rep.Hardware
	if rep.Node != "lab-01" || hwInv == nil {
		t.Fatalf("report %+v", rep)
	}
	var disks, nics []string
	for _, d := range hwInv.Disks {
		disks = append(disks, fmt.Sprintf("%s:%d", d.Name, d.SizeBytes))
	}
	for _, n := range hwInv.NICs {
		nics = append(nics, n.Name+"="+n.MAC)
	}
	if !strings.Contains(strings.Join(disks, " "), fmt.Sprintf("vda:%d", 96<<20)) {
		t.Errorf("disks %v, want vda of 96 MiB", disks)
	}
	if !strings.Contains(strings.Join(nics, " "), "="+mac) {
		t.Errorf("NICs %v, want one with MAC %s", nics, mac)
	}
	if hwInv.MemoryKB < 300<<10 || hwInv.MemoryKB > 512<<10 {
		t.Errorf("memory %d kB, want about 512 MiB", hwInv.MemoryKB)
	}
	if hwInv.CPU.Threads < 1 || len(hwInv.PCI) == 0 {
		t.Errorf("cpu %+v, %d PCI devices", hwInv.CPU, len(hwInv.PCI))
	}
	var scratch string
	for _, r := range rep.Results {
		if r.Name == "storage./scratch.mount" {
			scratch = string(r.Status)
		}
	}
	if scratch != "warn" {
		t.Errorf("storage./scratch.mount = %q in the ramdisk, want warn: %+v", scratch, rep.Results)
	}
	mu.Lock()
	if fmt.Sprint(hellos) != "[ramdisk]" {
		t.Errorf("hellos %v", hellos)
	}
	mu.Unlock()
	if err := g.Wait(2 * time.Minute); err != nil {
		t.Errorf("guest did not power off after reporting (racklift.after=poweroff): %v", err)
	}
}
