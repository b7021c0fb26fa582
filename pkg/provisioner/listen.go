package provisioner

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/pki"
)

// listenAgent listens on the agent API's address with serve's certificate and returns
// the listener and the base URL nodes are told (racklift.api=: cfg.AgentURL, or the
// listener's address); none when cfg.AgentListen is empty.
func listenAgent(cfg Config, ca *pki.PKI) (net.Listener, string, error) {
	if cfg.AgentListen == "" {
		return nil, "", nil
	}
	ln, err := net.Listen("tcp", cfg.AgentListen)
	if err != nil {
		return nil, "", fmt.Errorf("agent API: listen on %s: %w", cfg.AgentListen, err)
	}
	host, _, _ := net.SplitHostPort(cfg.AgentListen)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if len(cfg.Hosts) == 0 {
			ln.Close()
			return nil, "", errors.New("agent API listens on every address: name the one nodes reach in Hosts")
		}
		host = cfg.Hosts[0]
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	u := "https://" + net.JoinHostPort(host, port)
	if cfg.AgentURL != "" {
		u = cfg.AgentURL // checked by Open
	}
	return tls.NewListener(ln, ca.ServerTLSConfig()), u, nil
}

// listenControl listens where the CLI looks for the control API: the unix socket in the
// state dir, or a loopback port; it returns the listener and the address for --api.
func listenControl(cfg Config) (net.Listener, string, error) {
	switch {
	case cfg.ControlAPI == "":
		ln, err := ListenUnix(api.SocketPath(cfg.StateDir))
		if err != nil {
			return nil, "", err
		}
		return ln, "unix://" + api.SocketPath(cfg.StateDir), nil
	case strings.HasPrefix(cfg.ControlAPI, "http://"):
		u, err := url.Parse(cfg.ControlAPI)
		if err != nil {
			return nil, "", fmt.Errorf("control API %q: %w", cfg.ControlAPI, err)
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return nil, "", fmt.Errorf("control API %q: only a loopback address (127.0.0.1) or the unix socket", cfg.ControlAPI)
		}
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			return nil, "", err
		}
		return ln, "http://" + ln.Addr().String(), nil
	}
	return nil, "", fmt.Errorf("control API %q: want http://127.0.0.1:PORT or empty for the unix socket", cfg.ControlAPI)
}

// LoadOrCreateToken returns the control token from the state dir (api.TokenFile),
// creating it (0600) on first start.
func LoadOrCreateToken(stateDir string) (string, error) {
	p := api.TokenPath(stateDir)
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		// Checked on every start, not only at creation: a token someone made readable
		// (a copy, a chmod) is made 0600 again.
		if err := tightenFile(p); err != nil {
			return "", fmt.Errorf("control token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := atomicfile.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("control token: %w", err)
	}
	return tok, nil
}

// tightenFile makes a secret file readable by its owner only.
func tightenFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("%s is mode %04o and could not be made 0600: %w", p, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// ListenUnix listens on the control socket (0600). A socket file left by a killed serve
// is removed; one that answers means serve already runs.
func ListenUnix(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s answers: another `provision serve` is running with this --state-dir", path)
	}
	os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
