package provisioner

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/state"
)

// DefaultTokenTTL is how long an agent token is valid after it is minted.
const DefaultTokenTTL = 6 * time.Hour

// Tokens mints and verifies per-node agent tokens: serve's token store over the state
// (pkg/state), which is why it is not in pkg/pki (crypto only, linked by the agent). Its
// refusals wrap api.ErrNoToken, ErrBadToken, ErrOtherNode and ErrExpired, which the
// agent API answers with 401 or 403. A token is 32 random bytes (base64url);
// the store keeps only its SHA-256, bound to the node name and the node's PXE MAC, with an
// expiry. The plaintext lives in memory just long enough to be put in that node's boot
// script.
type Tokens struct {
	store state.Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	plain map[string]string // node → plaintext of the token minted last by this process
}

// NewTokens makes a token store over store; ttl 0 takes DefaultTokenTTL.
func NewTokens(store state.Store, ttl time.Duration) *Tokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{store: store, ttl: ttl, now: time.Now, plain: map[string]string{}}
}

// SetClock replaces time.Now (tests).
func (t *Tokens) SetClock(now func() time.Time) { t.now = now }

// Mint sets a fresh token on n, which the caller writes (lifecycle.Minter: called inside
// the transition into pxe, so the token and the phase are written together).
func (t *Tokens) Mint(n *state.Node, mac string, now time.Time) error {
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
	n.Token = &state.Token{Hash: sum[:], MAC: hw.String(), Run: n.Run, Attempt: n.Attempt, IssuedAt: now, ExpiresAt: now.Add(t.ttl)}
	t.mu.Lock()
	t.plain[n.Name] = plain
	t.mu.Unlock()
	return nil
}

// ForBoot returns the token to put in the boot script of node, asked for by the PXE
// client with MAC mac. Only the node's own MAC gets it, and only while a token minted by
// the lifecycle is live. After a restart of serve the plaintext is gone from memory:
// a fresh token replaces the stored one (the old one was never handed out to anyone
// but this node, which is booting again anyway).
func (t *Tokens) ForBoot(node, mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", fmt.Errorf("node %s: boot request MAC %q: %w", node, mac, err)
	}
	n, err := t.store.Get(node)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", node, err)
	}
	if err := bootable(n, hw, t.now()); err != nil {
		return "", err
	}
	t.mu.Lock()
	plain, ok := t.plain[node]
	t.mu.Unlock()
	if ok && matches(n.Token, plain) {
		return plain, nil
	}
	_, err = t.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if err := bootable(*n, hw, t.now()); err != nil {
			return nil, err
		}
		tok := *n.Token
		if err := t.Mint(n, tok.MAC, t.now()); err != nil {
			return nil, err
		}
		n.Token.Run, n.Token.Attempt = tok.Run, tok.Attempt
		return []state.Event{{Kind: "token.reminted", Detail: "agent token minted again for the boot script (serve restarted since the node entered pxe)"}}, nil
	})
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.plain[node], nil
}

func bootable(n state.Node, hw net.HardwareAddr, now time.Time) error {
	switch {
	case n.Token == nil:
		return fmt.Errorf("%w for node %s: it is not being provisioned (run `provision up %s`)", api.ErrNoToken, n.Name, n.Name)
	case !strings.EqualFold(n.Token.MAC, hw.String()):
		return fmt.Errorf("node %s: boot request from MAC %s, but its token is bound to its PXE MAC %s: not handed out", n.Name, hw, n.Token.MAC)
	case !now.Before(n.Token.ExpiresAt):
		return fmt.Errorf("%w: node %s's token expired at %s: run `provision up %s` again", api.ErrExpired, n.Name, n.Token.ExpiresAt.Format(time.RFC3339), n.Name)
	}
	return nil
}

func matches(tok *state.Token, plain string) bool {
	if tok == nil || plain == "" {
		return false
	}
	sum := sha256.Sum256([]byte(plain))
	return subtle.ConstantTimeCompare(sum[:], tok.Hash) == 1
}

// Verify checks that token is node's live agent token. The errors say what is wrong
// without echoing the token.
func (t *Tokens) Verify(node, token string) error {
	if token == "" {
		return fmt.Errorf("%w: send Authorization: Bearer <the %s= value from the node's kernel command line>", api.ErrNoToken, pki.CmdlineToken)
	}
	n, err := t.store.Get(node)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if err == nil && matches(n.Token, token) {
		if !t.now().Before(n.Token.ExpiresAt) {
			return fmt.Errorf("%w: node %s's token expired at %s: boot the node again with `provision up %s`", api.ErrExpired, node, n.Token.ExpiresAt.Format(time.RFC3339), node)
		}
		return nil
	}
	// Not this node's: say whose it is, so a mixed-up token file is found at once.
	all, err := t.store.List()
	if err != nil {
		return err
	}
	for _, other := range all {
		if other.Name != node && matches(other.Token, token) {
			return fmt.Errorf("%w: the token presented for node %s is node %s's: each node reports only for itself", api.ErrOtherNode, node, other.Name)
		}
	}
	if n.Token == nil {
		return fmt.Errorf("%w: node %s has no token (not provisioned by this serve, or its state dir was replaced)", api.ErrBadToken, node)
	}
	return fmt.Errorf("%w for node %s (a stale token from an earlier boot, or a typo)", api.ErrBadToken, node)
}
