package main

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/pki"
)

const testBootstrap = "boot-3f9a1c77e2-secret"

// fakeServer is serve's agent API on loopback, over mutual TLS with serve's PKI: it
// exchanges testBootstrap once for a certificate, serves expectations and collects
// reports from the node whose certificate is presented.
type fakeServer struct {
	URL     string
	pki     *pki.PKI
	mu      sync.Mutex
	reports []check.Report
	hellos  []string // stages
	used    bool
}

func startServer(t *testing.T, expect string) *fakeServer {
	t.Helper()
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{pki: p}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != r.PathValue("name") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /api/v1/nodes/{name}/bootstrap", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Bootstrap, CSR string }
		json.NewDecoder(r.Body).Decode(&req)
		fs.mu.Lock()
		defer fs.mu.Unlock()
		csr, err := pki.ParseCSR([]byte(req.CSR))
		if req.Bootstrap != testBootstrap || fs.used || err != nil {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		fs.used = true
		c, _ := p.IssueClient(r.PathValue("name"), csr.PublicKey, time.Now(), time.Hour)
		json.NewEncoder(w).Encode(map[string]string{"certificate": string(pki.CertPEM(c))})
	})
	mux.HandleFunc("GET /api/v1/nodes/{name}/expect", func(w http.ResponseWriter, r *http.Request) {
		if auth(w, r) {
			io.WriteString(w, expect)
		}
	})
	mux.HandleFunc("POST /api/v1/nodes/{name}/hello", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		var b struct{ Stage string }
		json.NewDecoder(r.Body).Decode(&b)
		fs.mu.Lock()
		fs.hellos = append(fs.hellos, b.Stage)
		fs.mu.Unlock()
		io.WriteString(w, `{"phase":"checking"}`)
	})
	mux.HandleFunc("POST /api/v1/nodes/{name}/report", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		var rep check.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.Node != r.PathValue("name") {
			http.Error(w, fmt.Sprintf("bad report: %v", err), http.StatusBadRequest)
			return
		}
		fs.mu.Lock()
		fs.reports = append(fs.reports, rep)
		fs.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: p.ServerTLSConfig()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	fs.URL = "https://" + ln.Addr().String()
	return fs
}

func (fs *fakeServer) got() []check.Report {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]check.Report(nil), fs.reports...)
}

// identityDir is what an install leaves in /etc/racklift for node: certificate, key,
// agent.yaml naming this server.
func (fs *fakeServer) identityDir(t *testing.T, node string) string {
	t.Helper()
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(node)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.ParseCSR(csrPEM)
	c, err := fs.pki.IssueClient(node, csr.PublicKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "racklift")
	b := identity.Bundle{Node: node, APIURL: fs.URL, CAPin: fs.pki.Fingerprint(), CertPEM: pki.CertPEM(c), KeyPEM: keyPEM}
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func bootstrapFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bootstrap")
	os.WriteFile(p, []byte(testBootstrap+"\n"), 0o600)
	return p
}

func TestDaemonOnceFetchesExpectationsAndReports(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	data := t.TempDir()
	srv := startServer(t, fmt.Sprintf(`{"node":"n1","storage":[{"mount":%q,"min_write_mbps":1}]}`, data))
	spool := filepath.Join(t.TempDir(), "spool")
	idDir := filepath.Join(t.TempDir(), "identity")
	boot := bootstrapFile(t)
	var stderr bytes.Buffer
	// As the ramdisk runs it: the bootstrap is exchanged for the node's certificate first.
	cmd := exec.Command(bin, "daemon", "--once", "--server", srv.URL, "--ca-fingerprint", srv.pki.Fingerprint(),
		"--bootstrap-file", boot, "--identity-dir", idDir, "--node", "n1",
		"--spool", spool, "--storage-size", "8M", "--storage-time", "10s", "--stage", "ramdisk")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("daemon --once: %v\n%s", err, stderr.String())
	}
	reps := srv.got()
	if len(reps) != 1 {
		t.Fatalf("server got %d reports, want 1\n%s", len(reps), stderr.String())
	}
	rep := reps[0]
	srv.mu.Lock()
	if fmt.Sprint(srv.hellos) != "[ramdisk]" {
		t.Errorf("hellos %v, want [ramdisk]", srv.hellos)
	}
	srv.mu.Unlock()
	names := map[string]string{}
	for _, r := range rep.Results {
		names[r.Name] = string(r.Status)
	}
	if names["storage."+data+".write"] != "pass" || names["storage."+data+".read"] != "pass" {
		t.Errorf("storage results %v", names)
	}
	if rep.Hardware == nil || rep.Hardware.MemoryKB == 0 || len(rep.Hardware.Disks) == 0 || rep.Hardware.CPU.Threads == 0 {
		t.Errorf("hardware inventory %+v", rep.Hardware)
	}
	if strings.Contains(stderr.String(), testBootstrap) || strings.Contains(stderr.String(), "PRIVATE KEY") {
		t.Fatalf("secret in the log:\n%s", stderr.String())
	}
	if _, err := os.Stat(boot); !os.IsNotExist(err) {
		t.Errorf("bootstrap file left after its exchange: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(idDir, identity.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node key in the identity dir: %v %v", fi, err)
	}
	if _, err := identity.LoadBundle(idDir); err != nil {
		t.Errorf("identity kept for the next start: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*.json")); len(left) != 0 {
		t.Errorf("spool after delivery: %v", left)
	}
	if _, err := os.Stat(filepath.Join(spool, "expectations.cache")); err != nil {
		t.Errorf("expectations not cached for when the server is down: %v", err)
	}
}

func TestDaemonServesMetricsAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	expect := filepath.Join(t.TempDir(), "expect.yaml")
	os.WriteFile(expect, []byte("node: n2\ngpu:\n  count: 8\n"), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "daemon", "--expect", expect, "--metrics-addr", addr, "--interval", "1h", "--node", "n2")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, "racklift_check_status") {
			break
		}
	}
	if !strings.Contains(body, `racklift_check_status{check="gpu.count"} 2`) || !strings.Contains(body, `racklift_check_status{check="gpu.nvml"}`) {
		t.Fatalf("/metrics:\n%s\nstderr:\n%s", body, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon ignored SIGTERM")
	}
}

// Throughput is measured once per --storage-every; later reports repeat it, marked with
// when it was measured, while mount checks run every interval.
func TestDaemonMeasuresStorageLessOften(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	data := t.TempDir()
	srv := startServer(t, fmt.Sprintf(`{"node":"n3","storage":[{"mount":%q}]}`, data))
	cmd := exec.Command(bin, "daemon", "--identity-dir", srv.identityDir(t, "n3"),
		"--spool", filepath.Join(t.TempDir(), "spool"), "--metrics-addr", "", "--interval", "200ms",
		"--storage-every", "1h", "--storage-size", "4M")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(srv.got()) < 3 {
		time.Sleep(50 * time.Millisecond)
	}
	reps := srv.got()
	if len(reps) < 3 {
		t.Fatalf("%d reports in 30s\n%s", len(reps), stderr.String())
	}
	for i, rep := range reps[:3] {
		var write, mount string
		for _, r := range rep.Results {
			switch r.Name {
			case "storage." + data + ".write":
				write = r.Observed
			case "storage." + data + ".mount":
				mount = string(r.Status)
			}
		}
		if mount == "" || write == "" {
			t.Fatalf("report %d lacks mount or write: %+v", i, rep.Results)
		}
		if measured := strings.Contains(write, "(measured "); measured != (i > 0) {
			t.Errorf("report %d write observed %q", i, write)
		}
	}
}
