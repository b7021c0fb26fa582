package provisioner_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const (
	macA = "52:54:00:aa:00:01"
	macB = "52:54:00:bb:00:02"
)

// tokenRig mints tokens for nodes a and b, as the lifecycle does entering pxe.
func tokenRig(t *testing.T) (*state.Bolt, *provisioner.Tokens, *fakeClock, string, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := &fakeClock{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	tk := provisioner.NewTokens(s, time.Hour)
	tk.SetClock(clk.now)
	for _, n := range []struct{ name, mac string }{{"a", macA}, {"b", macB}} {
		if _, err := s.Update(n.name, func(node *state.Node) ([]state.Event, error) {
			node.Phase = "pxe"
			return nil, tk.Mint(node, n.mac, clk.now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	ta, err := tk.ForBoot("a", macA)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tk.ForBoot("b", strings.ToUpper(macB))
	if err != nil {
		t.Fatal(err)
	}
	return s, tk, clk, ta, tb
}

func TestVerify(t *testing.T) {
	t.Parallel()
	_, tk, clk, ta, tb := tokenRig(t)
	if len(ta) < 40 || ta == tb {
		t.Fatalf("tokens %d chars, distinct=%v", len(ta), ta != tb)
	}
	tests := []struct {
		name, node, token string
		want              error
	}{
		{"own token", "a", ta, nil},
		{"other node's own", "b", tb, nil},
		{"another node's token", "a", tb, api.ErrOtherNode},
		{"wrong token", "a", ta[:len(ta)-1] + "x", api.ErrBadToken},
		{"empty", "a", "", api.ErrNoToken},
		{"unknown node", "zz", ta, api.ErrOtherNode}, // still says whose it is
		{"unknown node, wrong token", "zz", "nope", api.ErrBadToken},
	}
	for _, tc := range tests {
		err := tk.Verify(tc.node, tc.token)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Verify(%s) = %v, want %v", tc.name, tc.node, err, tc.want)
		}
		if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error echoes the token", tc.name)
		}
	}
	if err := tk.Verify("a", tb); err == nil || !strings.Contains(err.Error(), "node b's") {
		t.Errorf("other node's token error %q does not say whose it is", err)
	}
	clk.add(time.Hour)
	if err := tk.Verify("a", ta); !errors.Is(err, api.ErrExpired) {
		t.Errorf("after the TTL: %v, want api.ErrExpired", err)
	}
	if _, err := tk.ForBoot("a", macA); !errors.Is(err, api.ErrExpired) {
		t.Errorf("ForBoot after the TTL: %v, want api.ErrExpired", err)
	}
}

func TestTokenHandedOnlyToItsMAC(t *testing.T) {
	t.Parallel()
	_, tk, _, _, _ := tokenRig(t)
	if _, err := tk.ForBoot("a", macB); err == nil || !strings.Contains(err.Error(), macA) {
		t.Errorf("ForBoot(a) from b's MAC = %v, want refusal naming a's MAC", err)
	}
	if _, err := tk.ForBoot("c", macA); err == nil {
		t.Error("ForBoot for a node never minted succeeded")
	}
}

func TestStoredOnlyHashed(t *testing.T) {
	t.Parallel()
	s, _, _, ta, _ := tokenRig(t)
	n, err := s.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if n.Token == nil || len(n.Token.Hash) != 32 || n.Token.MAC != macA {
		t.Fatalf("stored token = %+v", n.Token)
	}
	s.Close()
	db, err := os.ReadFile(filepath.Join(filepath.Dir(s.Path()), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(ta)) {
		t.Error("the plaintext token is in the state file")
	}
}

func TestRestartRemintsForBoot(t *testing.T) {
	t.Parallel()
	s, tk, clk, ta, _ := tokenRig(t)
	again, err := tk.ForBoot("a", macA)
	if err != nil || again != ta {
		t.Fatalf("second script fetch got a different token (%v)", err)
	}
	// serve restarts: a new Tokens has no plaintext in memory.
	tk2 := provisioner.NewTokens(s, time.Hour)
	tk2.SetClock(clk.now)
	fresh, err := tk2.ForBoot("a", macA)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == ta {
		t.Fatal("restart re-used a plaintext it cannot have")
	}
	if err := tk2.Verify("a", fresh); err != nil {
		t.Errorf("re-minted token: %v", err)
	}
	if err := tk2.Verify("a", ta); !errors.Is(err, api.ErrBadToken) {
		t.Errorf("old token after re-mint: %v, want api.ErrBadToken", err)
	}
}
