package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimitsAreInclusive: a report of exactly MaxReport bytes and a record of exactly
// MaxRecord bytes are written; one byte more is refused naming the node. (A limit
// checked with >= instead of > refused the largest allowed report.)
func TestLimitsAreInclusive(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		// A JSON string of exactly size bytes.
		report := func(size int) json.RawMessage {
			return json.RawMessage(`"` + strings.Repeat("r", size-2) + `"`)
		}
		// record sets the node's report and pads its power error so that the record,
		// as the store marshals it, is exactly size bytes.
		record := func(size int) func(n *Node) ([]Event, error) {
			return func(n *Node) ([]Event, error) {
				n.Report = report(MaxReport)
				n.Power.Err = "e"
				j, err := json.Marshal(n)
				if err != nil {
					return nil, err
				}
				n.Power.Err += strings.Repeat("e", size-len(j))
				return nil, nil
			}
		}
		for _, tc := range []struct {
			name    string
			fn      func(n *Node) ([]Event, error)
			refused bool
		}{
			{name: "report at MaxReport", fn: func(n *Node) ([]Event, error) { n.Report = report(MaxReport); return nil, nil }},
			{name: "report past MaxReport", fn: func(n *Node) ([]Event, error) { n.Report = report(MaxReport + 1); return nil, nil }, refused: true},
			{name: "record at MaxRecord", fn: record(MaxRecord)},
			{name: "record past MaxRecord", fn: record(MaxRecord + 1), refused: true},
		} {
			node := "gpu-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := s.Update(node, tc.fn)
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), node) || !strings.Contains(err.Error(), "limit") {
					t.Errorf("%s: err = %v, want a refusal naming %s and the limit", tc.name, err, node)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			n, err := s.Get(node)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(n.Report) != MaxReport {
				t.Errorf("%s: stored report is %d bytes, want %d", tc.name, len(n.Report), MaxReport)
			}
		}
	})
}

// TestCompactionDropsOneBatchPerWrite: with retention lowered below what the log holds,
// one write drops exactly one batch of the oldest events (so a write stays short) and
// records the newest dropped; later writes catch up to the limit.
func TestCompactionDropsOneBatchPerWrite(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		batch := compactBatch
		if b.name == "etcd" {
			batch = etcdCompactBatch
		}
		write := func(s Store, node string) {
			t.Helper()
			if _, err := s.Update(node, func(n *Node) ([]Event, error) { return []Event{{Kind: "tick"}}, nil }); err != nil {
				t.Fatal(err)
			}
		}
		where := b.fresh(t)
		s := b.openB(t, where)
		logged := batch + 20
		for i := range logged {
			write(s, []string{"a", "b"}[i%2])
		}
		s.Close()
		const keep = 10
		s, err := b.open(t, where, Options{MaxEvents: keep})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		write(s, "a")
		logged++
		r, err := s.Retention()
		if err != nil {
			t.Fatal(err)
		}
		if r.DroppedThrough != uint64(batch) {
			t.Errorf("one write dropped through %d, want one batch: %d", r.DroppedThrough, batch)
		}
		evs, err := s.Events(Query{})
		if err != nil || len(evs) != logged-batch || evs[0].Seq != uint64(batch+1) {
			t.Fatalf("after one write the log holds %d events from %v (%v); want %d from %d", len(evs), evs[:min(1, len(evs))], err, logged-batch, batch+1)
		}
		for range 2 {
			write(s, "b")
			logged++
		}
		if evs, err = s.Events(Query{}); err != nil || len(evs) != keep || evs[len(evs)-1].Seq != uint64(logged) {
			t.Errorf("after three writes the log holds %d events (%v), want the newest %d", len(evs), err, keep)
		}
	})
}

// TestCheckFileRefusesDamage: the CLI's check of a backup names a damaged file instead
// of calling it whole.
func TestCheckFileRefusesDamage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(populated(t), FileName)
	must(t, CheckFile(path))
	must(t, os.Truncate(path, 8<<10))
	err := CheckFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("CheckFile of a truncated state = %v, want an error naming %s", err, path)
	}
}
