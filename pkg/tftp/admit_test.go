package tftp

import (
	"errors"
	"net/netip"
	"testing"
)

// TestAdmitCountsAndReleasesSlots: transfers are admitted up to --tftp-max-per-client per
// client and --tftp-max in all; releasing (twice counts once) frees the slot and forgets
// a client with none left, so the per-client table holds only clients with transfers.
// Mutants (make mutate, server.go release): the per-client count's `<= 0` made `<` or
// negated.
func TestAdmitCountsAndReleasesSlots(t *testing.T) {
	fast(t)
	s, err := New(Config{Root: t.TempDir(), MaxTransfers: 2, MaxPerClient: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	relA, err := s.admit(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admit(a); !errors.Is(err, ErrBusy) {
		t.Errorf("a second transfer from one client: %v, want ErrBusy", err)
	}
	relB, err := s.admit(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admit(c); !errors.Is(err, ErrBusy) {
		t.Errorf("a third transfer in all: %v, want ErrBusy", err)
	}
	relA()
	relA() // once only
	if s.total != 1 || len(s.per) != 1 || s.per[b] != 1 {
		t.Errorf("after a's release: total %d, per-client %v; want 1 and only b", s.total, s.per)
	}
	relC, err := s.admit(c)
	if err != nil {
		t.Fatalf("a slot freed by a's release: %v", err)
	}
	relB()
	relC()
	if s.total != 0 || len(s.per) != 0 {
		t.Errorf("all released: total %d, per-client %v; want 0 and empty", s.total, s.per)
	}
}
