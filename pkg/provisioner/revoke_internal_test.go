package provisioner

import (
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/state"
)

// TestRevokeBeforeKeepsTheNewRun: a new run revokes the credentials of earlier runs only:
// an unused bootstrap and a live certificate of run 1 go, run 2's (minted while the
// revocation waited for its write) stay, a used bootstrap and a certificate already
// revoked are left as they are, and nothing to revoke writes no event. Mutants (make
// mutate, credentials.go revokeBefore): the run comparisons and the used/revoked checks.
func TestRevokeBeforeKeepsTheNewRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	for _, tc := range []struct {
		name        string
		node        state.Node
		wantToken   bool   // the bootstrap is still there
		wantRevoked string // the certificate's Revoked afterwards
		wantEvent   string // "" when no event
	}{
		{name: "run 1 of 2: both revoked", node: state.Node{Token: &state.Token{Run: 1}, Identity: &state.Identity{Serial: "0a", Run: 1}},
			wantToken: false, wantRevoked: "new run", wantEvent: "bootstrap and certificate 0a revoked: new run"},
		{name: "run 2 of 2: both kept", node: state.Node{Token: &state.Token{Run: 2}, Identity: &state.Identity{Serial: "0b", Run: 2}},
			wantToken: true, wantRevoked: ""},
		{name: "run 3, newer than the run: kept", node: state.Node{Token: &state.Token{Run: 3}, Identity: &state.Identity{Serial: "0c", Run: 3}},
			wantToken: true, wantRevoked: ""},
		{name: "used bootstrap kept, certificate revoked", node: state.Node{Token: &state.Token{Run: 1, UsedAt: earlier}, Identity: &state.Identity{Serial: "0d", Run: 1}},
			wantToken: true, wantRevoked: "new run", wantEvent: "certificate 0d revoked: new run"},
		{name: "certificate already revoked", node: state.Node{Identity: &state.Identity{Serial: "0e", Run: 1, RevokedAt: earlier, Revoked: "replaced"}},
			wantToken: false, wantRevoked: "replaced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := tc.node
			evs := revokeBefore(&n, 2, "new run", now)
			if got := n.Token != nil; got != tc.wantToken {
				t.Errorf("bootstrap kept: %v, want %v", got, tc.wantToken)
			}
			if n.Identity != nil && n.Identity.Revoked != tc.wantRevoked {
				t.Errorf("certificate revoked %q, want %q", n.Identity.Revoked, tc.wantRevoked)
			}
			if n.Identity != nil && tc.wantRevoked == "new run" && !n.Identity.RevokedAt.Equal(now) {
				t.Errorf("revoked at %v, want %v", n.Identity.RevokedAt, now)
			}
			switch {
			case tc.wantEvent == "" && len(evs) != 0:
				t.Errorf("events %+v, want none", evs)
			case tc.wantEvent != "" && (len(evs) != 1 || evs[0].Kind != "identity.revoked" || !strings.Contains(evs[0].Detail, tc.wantEvent)):
				t.Errorf("events %+v, want one identity.revoked %q", evs, tc.wantEvent)
			}
		})
	}
}

// TestNewCredentialsDefaults: a zero or negative bootstrap lifetime or certificate
// validity takes the default; a set one stays.
func TestNewCredentialsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ttl, validity         time.Duration
		wantTTL, wantValidity time.Duration
	}{
		{wantTTL: DefaultBootstrapTTL, wantValidity: pki.ClientValidity},
		{ttl: -time.Second, validity: -time.Second, wantTTL: DefaultBootstrapTTL, wantValidity: pki.ClientValidity},
		{ttl: time.Minute, validity: time.Hour, wantTTL: time.Minute, wantValidity: time.Hour},
	} {
		c := NewCredentials(nil, nil, tc.ttl, tc.validity)
		if c.ttl != tc.wantTTL || c.validity != tc.wantValidity {
			t.Errorf("NewCredentials(ttl %v, validity %v): %v, %v; want %v, %v", tc.ttl, tc.validity, c.ttl, c.validity, tc.wantTTL, tc.wantValidity)
		}
	}
}

// TestHostOf: a request's RemoteAddr names its host (an IPv4-mapped address unmapped);
// anything else is returned as is.
func TestHostOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.204.0.11:51234": "10.204.0.11", "[::ffff:10.204.0.11]:443": "10.204.0.11",
		"[fe80::1]:8443": "fe80::1", "10.204.0.11": "10.204.0.11", "pipe": "pipe",
	} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
