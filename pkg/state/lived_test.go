package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests for mutants gremlins found alive in this package (docs/dev/testing.md).

// TestOpenLockedUsesTheDefaultTimeout: with no LockTimeout, a second Open of a state
// another process holds fails with ErrLocked after the default second instead of
// waiting forever (bolt's zero timeout).
func TestOpenLockedUsesTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		s2, err := Open(dir, Options{ReadOnly: true})
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) || time.Since(start) < 900*time.Millisecond {
			t.Errorf("second open = %v after %v; want ErrLocked after the 1s default", err, time.Since(start))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a second open of a held state waited 20s: no lock timeout")
	}
}

// TestReadOnlyOpenWithoutSchemaIsNoState: a bbolt file without racklift's schema
// version is "no state yet" to a reader, never an empty state.
func TestReadOnlyOpenWithoutSchemaIsNoState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(dir, Options{ReadOnly: true}); !errors.Is(err, ErrNoState) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("read-only open of a file without schema = %v; want ErrNoState", err)
	}
	// A writer records the schema; then a reader opens it.
	s := open(t, dir)
	s.Close()
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// TestWaitersWokenOnlyByEvents: an update that logs events wakes Wait's callers at once
// (closes the changed channel); one that logs none does not.
func TestWaitersWokenOnlyByEvents(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	changed := func() chan struct{} { s.mu.Lock(); defer s.mu.Unlock(); return s.changed }
	before := changed()
	if _, err := s.Update("n", func(n *Node) ([]Event, error) { n.Attempt = 1; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if changed() != before {
		t.Error("an update without events woke the waiters")
	}
	if _, err := s.Update("n", func(n *Node) ([]Event, error) { return []Event{{Kind: "k"}}, nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-before:
	default:
		t.Fatal("an update with an event did not wake the waiters")
	}
	if changed() == before {
		t.Error("the changed channel was not replaced")
	}
}
