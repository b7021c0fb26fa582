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

	"github.com/racklift/racklift/pkg/check"
)

const testToken = "tok-3f9a1c77e2"

// fakeServer is the racklift server's node API on loopback: it serves expectations and
// collects reports.
type fakeServer struct {
	URL     string
	mu      sync.Mutex
	reports []check.Report
	hellos  []string // stages
}

func startServer(t *testing.T, expect string) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return false
		}
		return true
	}
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
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	fs.URL = "http://" + ln.Addr().String()
	return fs
}

func (fs *fakeServer) got() []check.Report {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]check.Report(nil), fs.reports...)
}

func tokenFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte(testToken+"\n"), 0o600)
	return p
}

func TestDaemonOnceFetchesExpectationsAndReports(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	data := t.TempDir()
	srv := startServer(t, fmt.Sprintf(`{"node":"n1","storage":[{"mount":%q,"min_write_mbps":1}]}`, data))
	spool := filepath.Join(t.TempDir(), "spool")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "daemon", "--once", "--server", srv.URL, "--token-file", tokenFile(t), "--node", "n1",
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
	if strings.Contains(stderr.String(), testToken) {
		t.Fatalf("token in the log:\n%s", stderr.String())
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
	cmd := exec.Command(bin, "daemon", "--server", srv.URL, "--token-file", tokenFile(t), "--node", "n3",
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
