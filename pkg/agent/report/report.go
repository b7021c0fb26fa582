// Package report is the agent's client of serve's agent API (mutual TLS with the node's
// certificate, got once for its bootstrap secret and renewed) and delivers its reports:
// every report is first written to a spool directory, then POSTed in order and removed only
// once the server accepted it, so a server that is down loses nothing; delivery retries
// with exponential backoff.
package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/pki"
)

// Client talks to serve's agent API. It authenticates with the node's client
// certificate (mutual TLS, SetIdentity or Exchange) and refuses to send any credential
// (certificate, bootstrap secret) over plain http://.
type Client struct {
	Server string       // base URL, e.g. https://10.10.0.2:8443 (racklift.api=)
	Agent  string       // the agent's version, told in hello (agent.Version)
	HTTP   *http.Client // default: 30s timeout, no client certificate
	pin    string

	mu   sync.Mutex
	cert *tls.Certificate
}

// NewClient builds a client for server. caFingerprint ("sha256:<hex>", the kernel's
// racklift.ca=) pins serve's CA; empty uses the system roots. The client presents the
// node's certificate once it has one.
func NewClient(server, caFingerprint string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want https://host:port", server)
	}
	c := &Client{Server: server, pin: caFingerprint}
	if u.Scheme != "https" {
		if caFingerprint != "" {
			return nil, fmt.Errorf("server %s: a CA fingerprint needs an https URL", server)
		}
		return c, nil // no credential will be sent over it (do refuses)
	}
	var tc *tls.Config
	if caFingerprint != "" {
		if tc, err = pki.PinnedMutualConfig(caFingerprint, u.Hostname(), c.certificate); err != nil {
			return nil, err
		}
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			kc, err := c.certificate()
			if kc == nil {
				return &tls.Certificate{}, err
			}
			return kc, err
		}}
	}
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	return c, nil
}

// SetIdentity makes the client present certPEM/keyPEM from now on (the next
// connection: a renewed certificate is used at once).
func (c *Client) SetIdentity(certPEM, keyPEM []byte) error {
	kc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("node certificate and key: %w", err)
	}
	c.mu.Lock()
	c.cert = &kc
	c.mu.Unlock()
	if t, ok := c.http().Transport.(*http.Transport); ok {
		t.CloseIdleConnections() // the next request handshakes with the new certificate
	}
	return nil
}

func (c *Client) certificate() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

// HasIdentity reports whether the client holds a certificate.
func (c *Client) HasIdentity() bool {
	kc, _ := c.certificate()
	return kc != nil
}

// ErrPlainHTTP: a credential is never sent over http://.
var ErrPlainHTTP = errors.New("refusing to send the node's credential over plain http://: use the agent API's https URL (racklift.api=) with --ca-fingerprint")

// Hello tells the server the agent is up (POST /api/v1/nodes/{node}/hello); stage is
// "ramdisk" or "installed".
func (c *Client) Hello(ctx context.Context, node, stage string) error {
	b, _ := json.Marshal(map[string]string{"agent": c.Agent, "stage": stage})
	_, err := c.do(ctx, http.MethodPost, c.url(node, "hello"), b, false)
	return err
}

// Installed tells the server the node's OS is on its disk: it boots its local disk from
// now on (POST /api/v1/nodes/{node}/installed).
func (c *Client) Installed(ctx context.Context, node string) error {
	_, err := c.do(ctx, http.MethodPost, c.url(node, "installed"), []byte("{}"), false)
	return err
}

// certRequest and certResponse are api.CertRequest and api.CertResponse on the wire (the
// agent does not link serve's packages).
type certRequest struct {
	Bootstrap string `json:"bootstrap,omitempty"`
	CSR       string `json:"csr"`
}

type certResponse struct {
	Certificate string `json:"certificate"`
}

// Exchange trades the node's one-time bootstrap secret for its client certificate over
// a key made here, and uses it from now on. The secret is sent once, in the body, over
// TLS pinned to serve's CA.
func (c *Client) Exchange(ctx context.Context, node, secret string) (identity.Bundle, error) {
	if secret == "" {
		return identity.Bundle{}, errors.New("no bootstrap secret (racklift.bootstrap= on the kernel command line)")
	}
	return c.certify(ctx, node, "bootstrap", secret)
}

// Renew gets a fresh certificate for the current one, over a new key, and uses it from
// now on.
func (c *Client) Renew(ctx context.Context, node string) (identity.Bundle, error) {
	if !c.HasIdentity() {
		return identity.Bundle{}, errors.New("renew: the client holds no certificate")
	}
	return c.certify(ctx, node, "renew", "")
}

func (c *Client) certify(ctx context.Context, node, what, secret string) (identity.Bundle, error) {
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(node)
	if err != nil {
		return identity.Bundle{}, err
	}
	body, _ := json.Marshal(certRequest{Bootstrap: secret, CSR: string(csrPEM)})
	b, err := c.do(ctx, http.MethodPost, c.url(node, what), body, secret != "")
	if err != nil {
		return identity.Bundle{}, err
	}
	var resp certResponse
	if err := json.Unmarshal(b, &resp); err != nil || resp.Certificate == "" {
		return identity.Bundle{}, fmt.Errorf("%s: the server's answer holds no certificate", c.url(node, what))
	}
	if err := c.SetIdentity([]byte(resp.Certificate), keyPEM); err != nil {
		return identity.Bundle{}, err
	}
	return identity.Bundle{Node: node, APIURL: c.Server, CAPin: c.pin, CertPEM: []byte(resp.Certificate), KeyPEM: keyPEM}, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Client) url(node, what string) string {
	return strings.TrimRight(c.Server, "/") + "/api/v1/nodes/" + url.PathEscape(node) + "/" + what
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Body string
	URL  string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: server answered %d", e.URL, e.Code)
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (the server refused the node's credential: its certificate is missing, revoked or another node's, or the bootstrap was used or expired)"
	case http.StatusConflict:
		msg += " (the node's certificate was superseded: renewed, or a later run of provision up)"
	case http.StatusNotFound:
		msg += " (the server does not know this node: check --node and the inventory)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// permanent reports whether resending the same report can never succeed.
func (e *StatusError) permanent() bool {
	return e.Code == http.StatusBadRequest || e.Code == http.StatusRequestEntityTooLarge || e.Code == http.StatusUnprocessableEntity
}

// do sends one request; secret says the body carries a credential. Neither it nor the
// node's certificate go over plain http://.
func (c *Client) do(ctx context.Context, method, u string, body []byte, secret bool) ([]byte, error) {
	if (secret || c.HasIdentity()) && !strings.HasPrefix(strings.ToLower(u), "https://") {
		return nil, ErrPlainHTTP
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err // net/http errors name the URL, never the body
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(b[:min(len(b), 300)])), URL: u}
	}
	return b, nil
}

// Expectations fetches GET /api/v1/nodes/{node}/expect.
func (c *Client) Expectations(ctx context.Context, node string) (*expect.Expectations, error) {
	u := c.url(node, "expect")
	b, err := c.do(ctx, http.MethodGet, u, nil, false)
	if err != nil {
		return nil, err
	}
	return expect.Parse(b, u)
}

// Post sends one report body to POST /api/v1/nodes/{node}/report.
func (c *Client) Post(ctx context.Context, node string, body []byte) error {
	_, err := c.do(ctx, http.MethodPost, c.url(node, "report"), body, false)
	return err
}

// Spool is a directory of reports waiting for the server, one JSON file each, named so
// that lexical order is the order they were made.
type Spool struct {
	Dir string
	seq atomic.Uint64
}

// Put writes a report durably (pkg/atomicfile).
func (s *Spool) Put(r *check.Report) (string, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%020d-%06d.json", time.Now().UnixNano(), s.seq.Add(1)%1000000)
	path := filepath.Join(s.Dir, name)
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	return path, nil
}

// Pending lists spooled reports, oldest first.
func (s *Spool) Pending() []string {
	ms, _ := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	sort.Strings(ms)
	return ms
}

// Poster sends one report body for a node (Client.Post; a fake in tests).
type Poster interface {
	Post(ctx context.Context, node string, body []byte) error
}

// Sender delivers spooled reports in order.
type Sender struct {
	Client Poster
	Spool  *Spool
	Log    *slog.Logger
	// Backoff bounds between failed attempts; defaults 1s and 2m.
	MinBackoff, MaxBackoff time.Duration

	mu   sync.Mutex
	kick chan struct{}
}

func (s *Sender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Flush POSTs every spooled report, oldest first, and stops at the first failure so
// order is kept. A report the server rejects as malformed is moved to rejected/ rather
// than blocking the queue forever.
func (s *Sender) Flush(ctx context.Context) error {
	for _, path := range s.Spool.Pending() {
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var head struct {
			Node string `json:"node"`
		}
		if err := json.Unmarshal(body, &head); err != nil || head.Node == "" {
			s.reject(path, "unreadable report")
			continue
		}
		err = s.Client.Post(ctx, head.Node, body)
		var se *StatusError
		switch {
		case err == nil:
			os.Remove(path)
			s.log().Info("report delivered", "file", filepath.Base(path), "node", head.Node)
		case errors.As(err, &se) && se.permanent():
			s.reject(path, err.Error())
		default:
			return err
		}
	}
	return nil
}

func (s *Sender) reject(path, why string) {
	dir := filepath.Join(s.Spool.Dir, "rejected")
	os.MkdirAll(dir, 0o700)
	os.Rename(path, filepath.Join(dir, filepath.Base(path)))
	s.log().Error("report rejected by the server, moved aside", "file", filepath.Join(dir, filepath.Base(path)), "reason", why)
}

// Kick asks a running Run loop to flush now.
func (s *Sender) Kick() {
	s.mu.Lock()
	if s.kick == nil {
		s.kick = make(chan struct{}, 1)
	}
	k := s.kick
	s.mu.Unlock()
	select {
	case k <- struct{}{}:
	default:
	}
}

// Run flushes whenever kicked, retrying failures with exponential backoff and jitter,
// until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	s.Kick()
	s.mu.Lock()
	k := s.kick
	s.mu.Unlock()
	lo, hi := s.MinBackoff, s.MaxBackoff
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 2 * time.Minute
	}
	backoff := lo
	for {
		select {
		case <-ctx.Done():
			return
		case <-k:
		}
		for {
			err := s.Flush(ctx)
			if err == nil || ctx.Err() != nil {
				backoff = lo
				break
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			s.log().Warn("server unreachable, report kept in the spool", "pending", len(s.Spool.Pending()), "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			case <-k: // a new report: try at once
			}
			backoff = min(backoff*2, hi)
		}
	}
}

// Deliver spools one report and flushes until everything pending is delivered or ctx
// ends (the ramdisk's run-once mode).
func (s *Sender) Deliver(ctx context.Context, r *check.Report) error {
	if _, err := s.Spool.Put(r); err != nil {
		return err
	}
	lo, hi := s.MinBackoff, s.MaxBackoff
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	backoff := lo
	for {
		err := s.Flush(ctx)
		if err == nil {
			return nil
		}
		s.log().Warn("report not delivered yet", "retry_in", backoff.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("report kept in %s, not delivered: %w", s.Spool.Dir, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, hi)
	}
}
