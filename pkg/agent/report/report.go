// Package report delivers agent reports to the racklift server: every report is first
// written to a spool directory, then POSTed in order with a bearer token and removed only
// once the server accepted it, so a server that is down loses nothing; delivery retries
// with exponential backoff.
package report

import (
	"bytes"
	"context"
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

	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/pki"
)

// Client talks to the racklift server's node API.
type Client struct {
	Server string       // base URL, e.g. http://10.10.0.2:8080
	Token  string       // bearer token; never logged or put in errors
	Agent  string       // the agent's version, told in hello (agent.Version)
	HTTP   *http.Client // default: 30s timeout
}

// NewClient builds a client for server. caFingerprint ("sha256:<hex>", the kernel's
// racklift.ca=) pins serve's CA for https URLs; empty uses the system roots.
func NewClient(server, token, caFingerprint string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http(s)://host:port", server)
	}
	c := &Client{Server: server, Token: token}
	if caFingerprint != "" {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("server %s: a CA fingerprint needs an https URL", server)
		}
		tc, err := pki.PinnedClientConfig(caFingerprint, u.Hostname())
		if err != nil {
			return nil, err
		}
		c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	}
	return c, nil
}

// Hello tells the server the agent is up (POST /api/v1/nodes/{node}/hello); stage is
// "ramdisk" or "installed".
func (c *Client) Hello(ctx context.Context, node, stage string) error {
	b, _ := json.Marshal(map[string]string{"agent": c.Agent, "stage": stage})
	_, err := c.do(ctx, http.MethodPost, c.url(node, "hello"), b)
	return err
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
		msg += " (the server refused the token: check --token-file and the token the server expects)"
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

func (c *Client) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err // net/http errors name the URL, never headers
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
	b, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return expect.Parse(b, u)
}

// Post sends one report body to POST /api/v1/nodes/{node}/report.
func (c *Client) Post(ctx context.Context, node string, body []byte) error {
	_, err := c.do(ctx, http.MethodPost, c.url(node, "report"), body)
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

// ReadToken reads a bearer token file, refusing one others can read.
func ReadToken(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s is readable by others (mode %o): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}
