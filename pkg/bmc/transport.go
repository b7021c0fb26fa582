package bmc

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tlsConfig builds the certificate check the target's policy asks for: a pinned
// SHA-256 fingerprint, a CA file, explicit insecure, or the system roots.
func tlsConfig(t Target, warn io.Writer) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case t.TLS.Fingerprint != "":
		want := normalizeFingerprint(t.TLS.Fingerprint)
		if len(want) != 64 {
			return nil, fmt.Errorf("tls.fingerprint %q is not a SHA-256 in hex (64 hex digits, colons allowed)", t.TLS.Fingerprint)
		}
		// The pin replaces chain verification: a BMC's self-signed certificate has no chain.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return fmt.Errorf("BMC sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if hex.EncodeToString(got[:]) != want {
				return fmt.Errorf("certificate fingerprint mismatch: the BMC presented sha256 %s, the inventory pins %s", hex.EncodeToString(got[:]), want)
			}
			return nil
		}
	case t.TLS.CAFile != "":
		path := t.TLS.CAFile
		if !filepath.IsAbs(path) && t.Dir != "" {
			path = filepath.Join(t.Dir, path)
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", path)
		}
		cfg.RootCAs = pool
		cfg.VerifyConnection = presentedOnFailure(cfg, t.Host)
	case t.TLS.Insecure:
		cfg.InsecureSkipVerify = true
		warnInsecure(warn, t.TLSScope)
	default:
		cfg.VerifyConnection = presentedOnFailure(cfg, t.Host)
	}
	return cfg, nil
}

// presentedOnFailure verifies the chain itself so that a failure can say which
// certificate the BMC presented: the operator can then pin it.
func presentedOnFailure(cfg *tls.Config, host string) func(tls.ConnectionState) error {
	cfg.InsecureSkipVerify = true // verification happens below, with the same rules
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("BMC sent no certificate")
		}
		// The certificate must name the BMC: its address (Go sends no SNI for an IP, so
		// ServerName is empty then) or its host name.
		name := cs.ServerName
		if name == "" {
			name = host
		}
		opts := x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: name, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			return fmt.Errorf("x509: %v (the BMC presented a certificate with sha256 fingerprint %s)", strings.TrimPrefix(err.Error(), "x509: "), hex.EncodeToString(sum[:]))
		}
		return nil
	}
}

func normalizeFingerprint(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "sha256:")
	return strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
}

var warned sync.Map

// warnInsecure says once per scope that certificates are not checked.
func warnInsecure(w io.Writer, scope string) {
	if w == nil {
		return
	}
	if _, dup := warned.LoadOrStore(scope, true); dup {
		return
	}
	fmt.Fprintf(w, "warning: BMC certificates of %s are not verified (tls.insecure: true); anyone on the BMC network could impersonate them. Pin them with tls.fingerprint or set tls.ca_file.\n", scope)
}

// connTracker closes every connection a client opened once its operation's context
// ends, so a hung BMC cannot keep a request alive past the deadline even where the
// library does not pass the context down.
type connTracker struct {
	mu     sync.Mutex
	ctx    context.Context // dials run under it: the operation's, then the logout's
	conns  map[net.Conn]struct{}
	closed bool
}

func (ct *connTracker) dial(d *net.Dialer, network, addr string) (net.Conn, error) {
	ct.mu.Lock()
	ctx := ct.ctx
	ct.mu.Unlock()
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.closed {
		c.Close()
		return nil, context.DeadlineExceeded
	}
	ct.conns[c] = struct{}{}
	return &trackedConn{Conn: c, ct: ct}, nil
}

// grace lets the client talk to the BMC again for d after the operation's deadline:
// long enough to log out, so a timed-out operation does not leave its session behind
// to count against the BMC's few.
func (ct *connTracker) grace(d time.Duration) context.CancelFunc {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	ct.mu.Lock()
	ct.ctx, ct.closed, ct.conns = ctx, false, map[net.Conn]struct{}{}
	ct.mu.Unlock()
	context.AfterFunc(ctx, ct.closeAll)
	return cancel
}

func (ct *connTracker) closeAll() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.closed = true
	for c := range ct.conns {
		c.Close()
	}
	ct.conns = nil
}

type trackedConn struct {
	net.Conn
	ct   *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.ct.mu.Lock()
		delete(c.ct.conns, c.Conn)
		c.ct.mu.Unlock()
	})
	return c.Conn.Close()
}

// httpClient is the HTTP client of one operation on one BMC: the vendor quirks
// (quirks) over connections kept alive and closed at the deadline.
func httpClient(ctx context.Context, tcfg *tls.Config, q *quirks) (*http.Client, *connTracker) {
	ct := &connTracker{ctx: ctx, conns: map[net.Conn]struct{}{}}
	context.AfterFunc(ctx, ct.closeAll)
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(c context.Context, network, addr string) (net.Conn, error) {
			// Dial under the operation's context: the library's own is Background.
			return ct.dial(d, network, addr)
		},
		TLSClientConfig:       tcfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
	q.base, q.ctx = keepAlive{tr}, ctx
	return &http.Client{Transport: q}, ct
}

// keepAlive lets the requests of one operation share a connection. gofish asks for a
// new connection per request (Connection: close), which costs a TLS handshake each:
// eight per power on, and handshakes are what a BMC's small CPU is slowest at.
type keepAlive struct{ base *http.Transport }

func (k keepAlive) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Close || req.Header.Get("Connection") == "close" {
		req = req.Clone(req.Context())
		req.Close = false
		req.Header.Del("Connection")
	}
	resp, err := k.base.RoundTrip(req)
	if err == nil {
		resp.Body = drainOnClose{resp.Body}
	}
	return resp, err
}

// drainOnClose reads what is left of a small body before closing it: gofish closes
// some bodies unread (the session login's), which would cost the connection.
type drainOnClose struct{ io.ReadCloser }

func (d drainOnClose) Close() error {
	_, _ = io.CopyN(io.Discard, d.ReadCloser, 64<<10)
	return d.ReadCloser.Close()
}

// CloseIdleConnections lets gofish's logout drop the connection.
func (k keepAlive) CloseIdleConnections() { k.base.CloseIdleConnections() }
