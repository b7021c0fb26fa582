package provisioner

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/state"
)

// DefaultBootstrapTTL is how long a bootstrap secret may wait for its exchange after it
// is minted (the node's pxe and booting phases fit in it).
const DefaultBootstrapTTL = 30 * time.Minute

// Credentials are the nodes' credentials: serve's store of them over the state
// (pkg/state), which is why it is not in pkg/pki (crypto only, linked by the agent).
//
// Each run of `up` mints per node a bootstrap secret when the node enters pxe: 32 random
// bytes, stored only as their SHA-256, bound to the node, its run, its PXE MAC and (in
// reservation mode) the address its boot script was asked from, valid
// DefaultBootstrapTTL. The plaintext lives in memory just long enough to be put in that
// node's boot script. The node's agent exchanges it once (Exchange) for a client
// certificate serve's CA signs over a key made on the node; the certificate's serial and
// run are recorded, and every later call is checked against them (Verify): a certificate
// of an earlier run, a replaced (renewed) or revoked one is refused. Every lookup is one
// record by the node's name: the cost of a refusal does not grow with the fleet.
//
// Refusals wrap api.ErrNoToken, ErrBadToken, ErrOtherNode, ErrExpired, ErrReplayed,
// ErrRevoked and ErrSuperseded, and never echo the secret.
type Credentials struct {
	store    state.Store
	ca       *pki.PKI
	ttl      time.Duration
	validity time.Duration
	now      func() time.Time

	mu    sync.Mutex
	plain map[string]string // node → plaintext of the bootstrap minted last by this process
}

// NewCredentials makes the credential store over store, signing with ca; ttl and
// validity 0 take DefaultBootstrapTTL and pki.ClientValidity.
func NewCredentials(store state.Store, ca *pki.PKI, ttl, validity time.Duration) *Credentials {
	if ttl <= 0 {
		ttl = DefaultBootstrapTTL
	}
	if validity <= 0 {
		validity = pki.ClientValidity
	}
	return &Credentials{store: store, ca: ca, ttl: ttl, validity: validity, now: time.Now, plain: map[string]string{}}
}

// SetClock replaces time.Now (tests).
func (c *Credentials) SetClock(now func() time.Time) { c.now = now }

// Mint sets a fresh bootstrap on n, which the caller writes (lifecycle.Minter: called
// inside the transition into pxe, so the secret and the phase are written together).
func (c *Credentials) Mint(n *state.Node, mac string, now time.Time) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return fmt.Errorf("node %s: PXE MAC %q: %w", n.Name, mac, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	plain := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(plain))
	n.Token = &state.Token{Hash: sum[:], MAC: hw.String(), Run: n.Run, Attempt: n.Attempt, IssuedAt: now, ExpiresAt: now.Add(c.ttl)}
	c.mu.Lock()
	c.plain[n.Name] = plain
	c.mu.Unlock()
	return nil
}

// ForBoot returns the bootstrap to put in the boot script of node, asked for by the PXE
// client with MAC mac from reserved (the node's reserved address in reservation mode,
// invalid otherwise: the bootstrap is then bound to it). Only the node's own MAC gets
// it, only while it is live and unused. After a restart of serve the plaintext is gone
// from memory: a fresh secret replaces the stored one (the old one was never handed out
// to anyone but this node, which is booting again anyway).
func (c *Credentials) ForBoot(node, mac string, reserved netip.Addr) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", fmt.Errorf("node %s: boot request MAC %q: %w", node, mac, err)
	}
	bound := ""
	if reserved.IsValid() {
		bound = reserved.String()
	}
	n, err := c.store.Get(node)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", node, err)
	}
	if err := bootable(n, hw, c.now()); err != nil {
		return "", err
	}
	c.mu.Lock()
	plain, ok := c.plain[node]
	c.mu.Unlock()
	if ok && matches(n.Token, plain) && n.Token.BoundIP == bound {
		return plain, nil
	}
	_, err = c.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if err := bootable(*n, hw, c.now()); err != nil {
			return nil, err
		}
		tok := *n.Token
		if err := c.Mint(n, tok.MAC, c.now()); err != nil {
			return nil, err
		}
		n.Token.Run, n.Token.Attempt, n.Token.BoundIP = tok.Run, tok.Attempt, bound
		if ok && matches(&tok, plain) {
			return nil, nil // the same boot asked from a new address: a fresh secret bound to it
		}
		return []state.Event{{Kind: "bootstrap.reminted", Detail: "bootstrap secret minted again for the boot script (serve restarted since the node entered pxe)"}}, nil
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plain[node], nil
}

func bootable(n state.Node, hw net.HardwareAddr, now time.Time) error {
	switch {
	case n.Token == nil || n.Token.Run != n.Run:
		return fmt.Errorf("%w for node %s: it is not being provisioned (run `provision up %s`)", api.ErrNoToken, n.Name, n.Name)
	case !n.Token.UsedAt.IsZero():
		return fmt.Errorf("%w for node %s: its bootstrap of run %d was exchanged at %s; a network boot in the same attempt gets none (the next attempt or `provision up --reprovision %s` mints a fresh one)",
			api.ErrNoToken, n.Name, n.Token.Run, n.Token.UsedAt.Format(time.RFC3339), n.Name)
	case !strings.EqualFold(n.Token.MAC, hw.String()):
		return fmt.Errorf("node %s: boot request from MAC %s, but its bootstrap is bound to its PXE MAC %s: not handed out", n.Name, hw, n.Token.MAC)
	case !now.Before(n.Token.ExpiresAt):
		return fmt.Errorf("%w: node %s's bootstrap expired at %s: run `provision up %s` again", api.ErrExpired, n.Name, n.Token.ExpiresAt.Format(time.RFC3339), n.Name)
	}
	return nil
}

// matches compares in constant time: the hash of what was presented against the
// stored one.
func matches(tok *state.Token, plain string) bool {
	if tok == nil || plain == "" {
		return false
	}
	sum := sha256.Sum256([]byte(plain))
	return subtle.ConstantTimeCompare(sum[:], tok.Hash) == 1
}

// errReplay aborts the exchange's write so the replay is recorded on its own.
var errReplay = errors.New("replay")

// Exchange trades node's bootstrap secret, presented from the address from, for a
// client certificate over the key of csrPEM (made on the node). It succeeds once: the
// second use is refused with api.ErrReplayed and recorded as an event naming where it
// came from. The certificate names the node, is signed by serve's CA and is recorded
// (serial, run) in the node's record with the secret's use, in one write.
func (c *Credentials) Exchange(node, secret string, csrPEM []byte, from string) ([]byte, error) {
	if secret == "" {
		return nil, fmt.Errorf("%w: send the %s= value from the node's kernel command line", api.ErrNoToken, pki.CmdlineBootstrap)
	}
	// A read first: a wrong secret is refused without taking the store's write lock.
	n, err := c.store.Get(node)
	if errors.Is(err, state.ErrNotFound) || err == nil && !matches(n.Token, secret) {
		return nil, fmt.Errorf("%w: not node %s's bootstrap secret (a stale one from an earlier run, a typo, or the node is not being provisioned)", api.ErrBadToken, node)
	}
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w: %w", node, api.ErrBadRequest, err)
	}
	var first state.Token
	var certPEM []byte
	_, err = c.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		tok := n.Token
		now := c.now()
		switch {
		case !matches(tok, secret):
			return nil, fmt.Errorf("%w: not node %s's bootstrap secret", api.ErrBadToken, node)
		case !tok.UsedAt.IsZero():
			first = *tok
			return nil, errReplay
		case tok.Run != n.Run:
			return nil, fmt.Errorf("%w: the bootstrap is from run %d of node %s, which is in run %d", api.ErrSuperseded, tok.Run, node, n.Run)
		case !now.Before(tok.ExpiresAt):
			return nil, fmt.Errorf("%w: node %s's bootstrap expired at %s: run `provision up %s` again", api.ErrExpired, node, tok.ExpiresAt.Format(time.RFC3339), node)
		case tok.BoundIP != "" && hostOf(from) != tok.BoundIP:
			return nil, fmt.Errorf("%w: node %s's bootstrap is bound to its reserved address %s, presented from %s", api.ErrBadToken, node, tok.BoundIP, hostOf(from))
		}
		cert, err := c.ca.IssueClient(node, csr.PublicKey, now, c.validity)
		if err != nil {
			return nil, err
		}
		tok.UsedAt, tok.UsedFrom = now, hostOf(from)
		serial := cert.SerialNumber.Text(16)
		n.Identity = &state.Identity{Serial: serial, Run: n.Run, IssuedAt: now, NotAfter: cert.NotAfter}
		certPEM = pki.CertPEM(cert)
		return []state.Event{{Kind: "identity.issued", Time: now,
			Detail: fmt.Sprintf("client certificate %s (run %d, until %s) for the bootstrap presented from %s", serial, n.Run, cert.NotAfter.Format(time.RFC3339), hostOf(from))}}, nil
	})
	if errors.Is(err, errReplay) {
		detail := fmt.Sprintf("bootstrap of run %d presented again from %s: refused (exchanged at %s from %s)", first.Run, hostOf(from), first.UsedAt.Format(time.RFC3339), first.UsedFrom)
		c.record(node, "bootstrap.replayed", detail)
		return nil, fmt.Errorf("%w: node %s's bootstrap was exchanged at %s; a bootstrap works once", api.ErrReplayed, node, first.UsedAt.Format(time.RFC3339))
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	delete(c.plain, node) // used: never handed out again
	c.mu.Unlock()
	return certPEM, nil
}

// record logs an event for node and changes nothing else.
func (c *Credentials) record(node, kind, detail string) {
	c.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if n.Phase == "" {
			return nil, errReplay // not a node serve knows: nothing to record on
		}
		return []state.Event{{Kind: kind, Time: c.now(), Detail: detail}}, nil
	})
}

// Verify checks that cert (verified against serve's CA by the TLS handshake) is node's
// current certificate: its name, its serial, the node's current run, not revoked, not
// expired. One record is read.
func (c *Credentials) Verify(node string, cert *x509.Certificate) error {
	if cert == nil {
		return fmt.Errorf("%w: present the node's client certificate (mutual TLS; a node gets one by exchanging its %s= secret)", api.ErrNoToken, pki.CmdlineBootstrap)
	}
	if cert.Subject.CommonName != node {
		return fmt.Errorf("%w: the certificate presented for node %s is node %s's: each node speaks only for itself", api.ErrOtherNode, node, cert.Subject.CommonName)
	}
	n, err := c.store.Get(node)
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("%w: serve has no record of node %s (removed from the inventory?)", api.ErrRevoked, node)
	}
	if err != nil {
		return err
	}
	serial := cert.SerialNumber.Text(16)
	id := n.Identity
	switch {
	case id == nil:
		return fmt.Errorf("%w: node %s holds no certificate (revoked, or its state was replaced): run `provision up --reprovision %s`", api.ErrRevoked, node, node)
	case subtle.ConstantTimeCompare([]byte(serial), []byte(id.Serial)) != 1:
		return fmt.Errorf("%w: certificate %s of node %s was replaced by %s (renewed, or a later run)", api.ErrSuperseded, serial, node, id.Serial)
	case !id.RevokedAt.IsZero():
		return fmt.Errorf("%w: node %s's certificate %s was revoked at %s: %s", api.ErrRevoked, node, serial, id.RevokedAt.Format(time.RFC3339), id.Revoked)
	case id.Run != n.Run:
		return fmt.Errorf("%w: node %s's certificate is from run %d; run %d has started (`provision up --reprovision`)", api.ErrSuperseded, node, id.Run, n.Run)
	case !c.now().Before(id.NotAfter):
		return fmt.Errorf("%w: node %s's certificate expired at %s", api.ErrExpired, node, id.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Renew issues node a fresh certificate over csrPEM's key for cert, its current one
// (checked as Verify does); the old one is superseded at once.
func (c *Credentials) Renew(node string, cert *x509.Certificate, csrPEM []byte) ([]byte, error) {
	if err := c.Verify(node, cert); err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w: %w", node, api.ErrBadRequest, err)
	}
	old := cert.SerialNumber.Text(16)
	var certPEM []byte
	_, err = c.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if n.Identity == nil || n.Identity.Serial != old || !n.Identity.RevokedAt.IsZero() || n.Identity.Run != n.Run {
			return nil, fmt.Errorf("%w: node %s's certificate %s changed while renewing", api.ErrSuperseded, node, old)
		}
		now := c.now()
		nc, err := c.ca.IssueClient(node, csr.PublicKey, now, c.validity)
		if err != nil {
			return nil, err
		}
		serial := nc.SerialNumber.Text(16)
		n.Identity = &state.Identity{Serial: serial, Run: n.Run, IssuedAt: now, NotAfter: nc.NotAfter}
		certPEM = pki.CertPEM(nc)
		return []state.Event{{Kind: "identity.renewed", Time: now, Detail: fmt.Sprintf("client certificate %s replaces %s (until %s)", serial, old, nc.NotAfter.Format(time.RFC3339))}}, nil
	})
	if err != nil {
		return nil, err
	}
	return certPEM, nil
}

// Revoke revokes node's certificate and unused bootstrap, saying why (an event); a node
// with neither is left as it is.
func (c *Credentials) Revoke(node, why string) error {
	_, err := c.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if n.Phase == "" {
			return nil, fmt.Errorf("node %s: %w", node, state.ErrNotFound)
		}
		if evs := revoke(n, why, c.now()); evs != nil {
			return evs, nil
		}
		return nil, errNoChange
	})
	c.mu.Lock()
	delete(c.plain, node)
	c.mu.Unlock()
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

var errNoChange = errors.New("no change")

// revoke marks n's credentials revoked (in the caller's write) and returns the event.
func revoke(n *state.Node, why string, now time.Time) []state.Event {
	return revokeBefore(n, int(^uint(0)>>1), why, now)
}

// revokeBefore revokes n's credentials of runs before run only: a new run's bootstrap,
// minted while its revocation of the previous run's waits for its write, is kept.
func revokeBefore(n *state.Node, run int, why string, now time.Time) []state.Event {
	var what []string
	if n.Token != nil && n.Token.UsedAt.IsZero() && n.Token.Run < run {
		n.Token = nil
		what = append(what, "bootstrap")
	}
	if id := n.Identity; id != nil && id.RevokedAt.IsZero() && id.Run < run {
		id.RevokedAt, id.Revoked = now, why
		what = append(what, "certificate "+id.Serial)
	}
	if len(what) == 0 {
		return nil
	}
	return []state.Event{{Kind: "identity.revoked", Time: now, Detail: strings.Join(what, " and ") + " revoked: " + why}}
}

// hostOf is the address of host:port (a request's RemoteAddr), or s.
func hostOf(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().String()
	}
	return s
}
