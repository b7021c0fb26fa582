package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, dir string) *Bolt {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setPhase(phase string, evs ...Event) func(*Node) ([]Event, error) {
	return func(n *Node) ([]Event, error) {
		n.Phase = phase
		return evs, nil
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		dir := b.fresh(t)
		s := b.openB(t, dir)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		_, err := s.Update("gpu-01", func(n *Node) ([]Event, error) {
			n.Phase, n.Run, n.Attempt = "validating", 1, 2
			n.EnteredAt, n.UpdatedAt = at, at
			n.Power = PowerRecord{Run: 1, Attempt: 2, IssuedAt: at, DoneAt: at.Add(time.Second)}
			n.Report = json.RawMessage(`{"results":[{"name":"gpu.count","status":"pass"}]}`)
			n.ReportAt = at
			n.Token = &Token{Hash: []byte{1, 2, 3}, MAC: "52:54:00:00:00:01", Run: 1, Attempt: 2, IssuedAt: at, ExpiresAt: at.Add(time.Hour)}
			return []Event{{Kind: "dhcp.ack", Time: at, Detail: "10.0.0.5"}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = b.openB(t, dir)
		defer s.Close()
		n, err := s.Get("gpu-01")
		if err != nil {
			t.Fatal(err)
		}
		if n.Phase != "validating" || n.Run != 1 || n.Attempt != 2 || !n.EnteredAt.Equal(at) {
			t.Errorf("node after reopen = %+v", n)
		}
		if !n.Power.IssuedFor(1, 2) || n.Power.IssuedFor(1, 3) || !n.Power.DoneAt.Equal(at.Add(time.Second)) {
			t.Errorf("power record after reopen = %+v", n.Power)
		}
		if string(n.Report) != `{"results":[{"name":"gpu.count","status":"pass"}]}` {
			t.Errorf("report after reopen = %s", n.Report)
		}
		if n.Token == nil || string(n.Token.Hash) != "\x01\x02\x03" || n.Token.MAC != "52:54:00:00:00:01" || !n.Token.ExpiresAt.Equal(at.Add(time.Hour)) {
			t.Errorf("token after reopen = %+v", n.Token)
		}
		if len(n.Recent) != 1 || n.Recent[0].Kind != "dhcp.ack" || n.Recent[0].Seq != 1 || n.Recent[0].Phase != "validating" {
			t.Errorf("recent after reopen = %+v", n.Recent)
		}
		evs, err := s.Events(Query{})
		if err != nil || len(evs) != 1 || evs[0].Node != "gpu-01" || evs[0].Detail != "10.0.0.5" {
			t.Errorf("log after reopen = %+v, %v", evs, err)
		}
		// Sequence numbers continue after a reopen, never reused.
		got, err := s.Update("gpu-01", setPhase("ready", Event{Kind: "agent.report.pass"}))
		if err != nil || len(got) != 1 || got[0].Seq != 2 {
			t.Errorf("event after reopen = %+v, %v; want seq 2", got, err)
		}
	})
}

func TestGetMissing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestFailedUpdateWritesNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		if _, err := s.Update("n1", setPhase("pxe", Event{Kind: "a"})); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		_, err := s.Update("n1", func(n *Node) ([]Event, error) {
			n.Phase = "ready"
			return []Event{{Kind: "b"}}, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		n, _ := s.Get("n1")
		evs, _ := s.Events(Query{})
		if n.Phase != "pxe" || len(evs) != 1 {
			t.Errorf("after failed update: phase %q, %d events; want pxe, 1", n.Phase, len(evs))
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					// Half the writers share one node, so read-modify-write must not lose updates.
					name := "shared"
					if w%2 == 1 {
						name = fmt.Sprintf("n%d", w)
					}
					_, err := s.Update(name, func(n *Node) ([]Event, error) {
						n.Attempt++
						return []Event{{Kind: "tick", Detail: fmt.Sprint(w, "/", i)}}, nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		shared, err := s.Get("shared")
		if err != nil {
			t.Fatal(err)
		}
		if want := writers / 2 * each; shared.Attempt != want {
			t.Errorf("shared counter = %d, want %d (lost updates)", shared.Attempt, want)
		}
		evs, err := s.Events(Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != writers*each {
			t.Fatalf("log has %d events, want %d", len(evs), writers*each)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d: sequence has a gap or duplicate", i, e.Seq)
			}
		}
		if len(shared.Recent) != RecentEvents {
			t.Errorf("recent events = %d, want bounded at %d", len(shared.Recent), RecentEvents)
		}
	})
}

func TestEventLogResume(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		dir := b.fresh(t)
		s := b.openB(t, dir)
		for i := range 10 {
			node := []string{"a", "b"}[i%2]
			if _, err := s.Update(node, setPhase("pxe", Event{Kind: "k", Detail: fmt.Sprint(i)})); err != nil {
				t.Fatal(err)
			}
		}
		// A consumer reads part of the log, remembers the last seq, and stops.
		first, err := s.Events(Query{Limit: 4})
		if err != nil || len(first) != 4 {
			t.Fatalf("first read = %d events, %v", len(first), err)
		}
		last := first[len(first)-1].Seq
		s.Close()

		// The producer restarts and writes more; the consumer resumes from last.
		s = b.openB(t, dir)
		defer s.Close()
		for i := 10; i < 13; i++ {
			if _, err := s.Update("a", setPhase("pxe", Event{Kind: "k", Detail: fmt.Sprint(i)})); err != nil {
				t.Fatal(err)
			}
		}
		rest, err := s.Events(Query{After: last})
		if err != nil {
			t.Fatal(err)
		}
		all := append(first, rest...)
		if len(all) != 13 {
			t.Fatalf("resumed consumer saw %d events, want 13", len(all))
		}
		for i, e := range all {
			if e.Detail != fmt.Sprint(i) || e.Seq != uint64(i+1) {
				t.Fatalf("event %d = seq %d detail %q: lost or duplicated", i, e.Seq, e.Detail)
			}
		}
		// Per node, same resume rule.
		bEvs, err := s.Events(Query{Node: "b", After: 4})
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, e := range bEvs {
			if e.Node != "b" {
				t.Errorf("node query returned %s's event", e.Node)
			}
			details = append(details, e.Detail)
		}
		if fmt.Sprint(details) != "[5 7 9]" {
			t.Errorf("node b after seq 4 = %v, want [5 7 9]", details)
		}
	})
}

func TestWait(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait on empty log = %v, want deadline exceeded", err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Wait(context.Background(), 0) }()
		if _, err := s.Update("a", setPhase("pxe", Event{Kind: "k"})); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Wait did not return after an event was logged")
		}
	})
}

func TestSchemaMismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	// A future racklift wrote version 99.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, ro := range []bool{false, true} {
		_, err := Open(dir, Options{ReadOnly: ro})
		if !errors.Is(err, ErrSchemaMismatch) {
			t.Fatalf("Open(readOnly=%v) = %v, want ErrSchemaMismatch", ro, err)
		}
		for _, want := range []string{"version 99", fmt.Sprintf("version %d", SchemaVersion), dir} {
			if !contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(dir, Options{ReadOnly: true}); !errors.Is(err, ErrNoState) {
		t.Errorf("read-only open of empty dir = %v, want ErrNoState", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		t.Error("read-only open created a state file")
	}
	s := open(t, dir)
	if _, err := s.Update("a", setPhase("ready")); err != nil {
		t.Fatal(err)
	}
	// While a writer holds it, a reader is told who has the lock.
	if _, err := Open(dir, Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("read-only open while a writer holds it = %v, want ErrLocked", err)
	}
	s.Close()
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := ro.Get("a"); err != nil || n.Phase != "ready" {
		t.Errorf("read-only Get = %+v, %v", n, err)
	}
	if _, err := ro.Update("a", setPhase("pxe")); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
