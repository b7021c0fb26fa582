package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// TokenEnv overrides the control token file.
const TokenEnv = "RACKLIFT_API_TOKEN"

// Source is what the CLI reads: serve's control API, or the state itself while serve is
// not running.
type Source interface {
	Nodes(ctx context.Context) ([]NodeStatus, error)
	Node(ctx context.Context, name string) (NodeDetail, error)
	// Events after seq, of one node or all (node ""); wait > 0 long-polls.
	Events(ctx context.Context, node string, after uint64, limit int, wait time.Duration) ([]state.Event, error)
	// Retention is the event log's limits and what it has dropped.
	Retention(ctx context.Context) (state.Retention, error)
	// Backup writes a consistent snapshot of the state to w while serve runs.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Check runs the state's consistency check.
	Check(ctx context.Context) error
	Describe() string
	Close() error
}

// ErrNotRunning: no serve answers at the API address and there is no state to read.
var ErrNotRunning = errors.New("serve is not running")

// Connect finds serve: api is "unix:///path/api.sock", a socket path, or
// "http://127.0.0.1:PORT"; empty means the socket in stateDir. When nothing listens there
// it reads the state in stateDir read-only instead.
func Connect(ctx context.Context, api, stateDir string) (Source, error) {
	if api == "" {
		api = "unix://" + SocketPath(stateDir)
	}
	token := os.Getenv(TokenEnv)
	if token == "" {
		b, err := os.ReadFile(TokenPath(stateDir))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("control token: %w (run as the user that runs serve, or set %s)", err, TokenEnv)
		}
		token = strings.TrimSpace(string(b))
	}
	c, err := NewClient(api, token)
	if err != nil {
		return nil, err
	}
	_, err = c.Health(ctx)
	if err == nil {
		return c, nil
	}
	if !unreachable(err) {
		return nil, err
	}
	// Check: a damaged file is named here, whichever part of it the command reads.
	s, serr := state.Open(stateDir, state.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond, Check: true})
	switch {
	case errors.Is(serr, state.ErrLocked):
		return nil, fmt.Errorf("serve holds the state in %s but its API at %s does not answer (%v): is serve's --state-dir or --api different?", stateDir, api, err)
	case errors.Is(serr, state.ErrNoState):
		return nil, fmt.Errorf("%w at %s and there is no state in %s yet: start `provision serve` (or pass --state-dir / --api)", ErrNotRunning, api, stateDir)
	case serr != nil:
		return nil, serr
	}
	return &Local{Store: s, Dir: stateDir}, nil
}

func unreachable(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, os.ErrNotExist)
}

// Client talks to serve's control API.
type Client struct {
	base  string // http://host:port, or http://unix for a socket
	addr  string
	token string
	http  *http.Client
}

// NewClient makes a client for api (see Connect).
func NewClient(api, token string) (*Client, error) {
	c := &Client{addr: api, token: token}
	sock := ""
	switch {
	case strings.HasPrefix(api, "unix://"):
		sock = strings.TrimPrefix(api, "unix://")
	case strings.HasPrefix(api, "unix:"):
		sock = strings.TrimPrefix(api, "unix:")
	case strings.HasPrefix(api, "/") || strings.HasSuffix(api, ".sock"):
		sock = api
	case strings.HasPrefix(api, "http://"):
		u, err := url.Parse(api)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--api %q: want http://127.0.0.1:PORT or unix:///path/api.sock", api)
		}
		c.base = "http://" + u.Host
		c.http = &http.Client{}
		return c, nil
	default:
		return nil, fmt.Errorf("--api %q: want http://127.0.0.1:PORT or unix:///path/api.sock", api)
	}
	c.base = "http://unix"
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	return c, nil
}

// Describe names the API.
func (c *Client) Describe() string { return "serve at " + c.addr }

// Close releases idle connections.
func (c *Client) Close() error { c.http.CloseIdleConnections(); return nil }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("serve at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("serve at %s: %w", c.addr, err)
	}
	if w, ok := out.(io.Writer); ok && resp.StatusCode/100 == 2 {
		_, err := w.Write(b)
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return &StatusError{Code: resp.StatusCode, Msg: e.Error}
		}
		return &StatusError{Code: resp.StatusCode, Msg: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// StatusError is an error answer from serve.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Health pings serve.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, PathHealth, nil, &h)
}

// Nodes implements Source.
func (c *Client) Nodes(ctx context.Context) ([]NodeStatus, error) {
	var out []NodeStatus
	return out, c.do(ctx, http.MethodGet, PathNodes, nil, &out)
}

// Node implements Source.
func (c *Client) Node(ctx context.Context, name string) (NodeDetail, error) {
	var out NodeDetail
	return out, c.do(ctx, http.MethodGet, PathNodes+"/"+url.PathEscape(name), nil, &out)
}

// Events implements Source.
func (c *Client) Events(ctx context.Context, node string, after uint64, limit int, wait time.Duration) ([]state.Event, error) {
	p := PathEvents
	if node != "" {
		p = PathNodes + "/" + url.PathEscape(node) + "/events"
	}
	v := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		v.Set("wait", wait.String())
	}
	var out []state.Event
	return out, c.do(ctx, http.MethodGet, p+"?"+v.Encode(), nil, &out)
}

// Retention implements Source.
func (c *Client) Retention(ctx context.Context) (state.Retention, error) {
	var out state.Retention
	return out, c.do(ctx, http.MethodGet, PathRetention, nil, &out)
}

// Backup implements Source: serve streams a snapshot taken in one read transaction.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := c.do(ctx, http.MethodGet, PathBackup, nil, cw)
	return cw.n, err
}

// Check implements Source.
func (c *Client) Check(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, PathCheck, nil, nil)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Up asks serve to bring nodes up.
func (c *Client) Up(ctx context.Context, req UpRequest) (UpResponse, error) {
	var out UpResponse
	return out, c.do(ctx, http.MethodPost, PathUp, req, &out)
}

// Revoke revokes node's credentials: its agents are refused until `provision up
// --reprovision NODE`.
func (c *Client) Revoke(ctx context.Context, node string) (Revoked, error) {
	var out Revoked
	return out, c.do(ctx, http.MethodPost, strings.Replace(PathRevoke, "{name}", url.PathEscape(node), 1), nil, &out)
}

// Local reads the state directly (read-only) while serve is not running.
type Local struct {
	Store state.Store
	Dir   string
}

// Describe names the state.
func (l *Local) Describe() string {
	return "the state in " + l.Dir + " (serve is not running: read-only)"
}

// Close implements Source.
func (l *Local) Close() error { return l.Store.Close() }

// Nodes implements Source.
func (l *Local) Nodes(context.Context) ([]NodeStatus, error) {
	ns, err := l.Store.List()
	out := make([]NodeStatus, 0, len(ns))
	for _, n := range ns {
		out = append(out, StatusOf(n))
	}
	return out, err
}

// Node implements Source.
func (l *Local) Node(_ context.Context, name string) (NodeDetail, error) {
	n, err := l.Store.Get(name)
	if err != nil {
		return NodeDetail{}, fmt.Errorf("node %s: no state for it in %s (not in the inventory, or never seen by serve)", name, l.Dir)
	}
	return DetailOf(n), nil
}

// Events implements Source; nobody writes while serve is down, so wait returns at once.
func (l *Local) Events(_ context.Context, node string, after uint64, limit int, _ time.Duration) ([]state.Event, error) {
	return l.Store.Events(state.Query{Node: node, After: after, Limit: limit})
}

// Retention implements Source.
func (l *Local) Retention(context.Context) (state.Retention, error) { return l.Store.Retention() }

// Backup implements Source.
func (l *Local) Backup(_ context.Context, w io.Writer) (int64, error) { return l.Store.WriteBackup(w) }

// Check implements Source.
func (l *Local) Check(context.Context) error { return l.Store.Check() }
