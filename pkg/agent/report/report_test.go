package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/pki"
)

// mtls is serve's PKI and a client of addr holding node's certificate, issued by it.
func mtls(t *testing.T, node string) (*pki.PKI, func(addr string) *Client, []byte) {
	t.Helper()
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(node)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.IssueClient(node, csr.PublicKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return p, func(addr string) *Client {
		c, err := NewClient("https://"+addr, p.Fingerprint())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetIdentity(pki.CertPEM(cert), keyPEM); err != nil {
			t.Fatal(err)
		}
		return c
	}, keyPEM
}

// peerNode is the verified client certificate's node, "" without one.
func peerNode(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The server is down (connection refused), reports pile up in the spool, then it comes
// up answering 503 once and then 200: every report arrives, in order, over mutual TLS
// with the node's certificate, and its key never appears in the log.
// testAgent is the agent version the test reports carry.
const testAgent = "test"

func TestSpoolWhileServerDownThenDeliverInOrder(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connection refused

	p, client, keyPEM := mtls(t, "gpu-a01-01")
	var logBuf syncBuf
	s := &Sender{
		Client:     client(addr),
		Spool:      &Spool{Dir: filepath.Join(t.TempDir(), "spool")},
		Log:        slog.New(slog.NewTextHandler(&logBuf, nil)),
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for _, name := range []string{"r1", "r2", "r3"} {
		if _, err := s.Spool.Put(check.NewReport("gpu-a01-01", testAgent, nil, []check.Result{{Name: name, Status: check.Pass}})); err != nil {
			t.Fatal(err)
		}
		s.Kick()
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.Spool.Pending()); n != 3 {
		t.Fatalf("%d reports spooled while the server is down, want 3", n)
	}

	var mu sync.Mutex
	var got []string
	first := true
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peerNode(r) != "gpu-a01-01" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/nodes/gpu-a01-01/report" {
			http.Error(w, "wrong endpoint "+r.URL.Path, http.StatusNotFound)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if first { // still starting up
			first = false
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		var rep check.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, rep.Results[0].Name)
		w.WriteHeader(http.StatusAccepted)
	})
	var ln2 net.Listener
	for i := 0; i < 50; i++ { // the same port, now up
		if ln2, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: p.ServerTLSConfig()}
	go srv.ServeTLS(ln2, "", "")
	defer srv.Close()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(s.Spool.Pending()) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "r1,r2,r3" {
		t.Fatalf("server received %v, want r1,r2,r3 in order (pending %v)", got, s.Spool.Pending())
	}
	log := logBuf.String()
	if !strings.Contains(log, "server unreachable, report kept in the spool") {
		t.Errorf("log does not say the reports were kept:\n%s", log)
	}
	if strings.Contains(log, "PRIVATE KEY") || strings.Contains(log, string(keyPEM[40:80])) {
		t.Fatalf("key in the log:\n%s", log)
	}
}

func TestRejectedAndUnauthorized(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/nodes/bad/report", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "schema mismatch", http.StatusBadRequest)
	})
	mux.HandleFunc("/api/v1/nodes/n1/report", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	dir := t.TempDir()
	s := &Sender{Client: &Client{Server: "http://" + ln.Addr().String()}, Spool: &Spool{Dir: dir}}
	s.Spool.Put(check.NewReport("bad", testAgent, nil, nil))
	s.Spool.Put(check.NewReport("n1", testAgent, nil, nil))
	err := s.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the server refused the node's credential") {
		t.Fatalf("Flush: %v", err)
	}
	if p := s.Spool.Pending(); len(p) != 1 {
		t.Fatalf("pending %v: the 401 report must stay, the 400 one move aside", p)
	}
	if ms, _ := filepath.Glob(filepath.Join(dir, "rejected", "*.json")); len(ms) != 1 {
		t.Fatalf("rejected %v", ms)
	}
}

func TestExpectationsFromServer(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes/gpu-a01-01/expect" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"node":"gpu-a01-01","gpu":{"count":8,"model":"H100"},"networks":[{"name":"storage","vlan":200,"mtu":9000,"role":"storage"}]}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := &Client{Server: "http://" + ln.Addr().String() + "/"}
	e, err := c.Expectations(context.Background(), "gpu-a01-01")
	if err != nil {
		t.Fatal(err)
	}
	if e.GPU.Count != 8 || e.StorageMTU() != 9000 {
		t.Fatalf("%+v", e)
	}
	if _, err := c.Expectations(context.Background(), "other"); err == nil || !strings.Contains(err.Error(), "does not know this node") {
		t.Fatalf("unknown node: %v", err)
	}
}

// Against serve's own PKI: the pinned CA is accepted and the node's certificate
// presented; another CA is refused in plain words; a credential never goes over http://.
func TestPinnedMutualTLS(t *testing.T) {
	t.Parallel()
	p, client, _ := mtls(t, "n1")
	other, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/nodes/n1/hello" && peerNode(r) == "n1" {
			w.Write([]byte(`{"node":"n1","phase":"agent"}`))
			return
		}
		http.Error(w, "no certificate", http.StatusUnauthorized)
	}), TLSConfig: p.ServerTLSConfig()}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	c := client(ln.Addr().String())
	if err := c.Hello(context.Background(), "n1", "ramdisk"); err != nil {
		t.Fatalf("pinned mutual hello: %v", err)
	}
	none, _ := NewClient("https://"+ln.Addr().String(), p.Fingerprint())
	if err := none.Hello(context.Background(), "n1", "ramdisk"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("hello without a certificate: %v", err)
	}
	bad, _ := NewClient("https://"+ln.Addr().String(), other.Fingerprint())
	if err := bad.Hello(context.Background(), "n1", "ramdisk"); err == nil || !strings.Contains(err.Error(), "does not match the pinned fingerprint") {
		t.Fatalf("wrong CA accepted: %v", err)
	}
	if _, err := NewClient("http://x:1", p.Fingerprint()); err == nil {
		t.Fatal("fingerprint with http accepted")
	}
	// A plain-HTTP server never sees the certificate or a bootstrap secret.
	var hits atomic.Int32
	plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })}
	pln, _ := net.Listen("tcp", "127.0.0.1:0")
	go plain.Serve(pln)
	defer plain.Close()
	hc := &Client{Server: "http://" + pln.Addr().String()}
	if _, err := hc.Exchange(context.Background(), "n1", "s3cret-bootstrap"); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("bootstrap over http://: %v, want ErrPlainHTTP", err)
	}
	c.Server = "http://" + pln.Addr().String()
	if err := c.Post(context.Background(), "n1", []byte(`{}`)); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("report with a certificate over http://: %v, want ErrPlainHTTP", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the plain-HTTP server got %d requests", hits.Load())
	}
}
