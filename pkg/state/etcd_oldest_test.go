package state

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// opRecorder is a KV that records the operations asked of it, alone and in transactions.
type opRecorder struct {
	clientv3.KV
	mu  sync.Mutex
	ops []clientv3.Op
}

func (r *opRecorder) add(ops ...clientv3.Op) {
	r.mu.Lock()
	r.ops = append(r.ops, ops...)
	r.mu.Unlock()
}

func (r *opRecorder) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	r.add(clientv3.OpGet(key, opts...))
	return r.KV.Get(ctx, key, opts...)
}

func (r *opRecorder) Txn(ctx context.Context) clientv3.Txn {
	return &txnRecorder{Txn: r.KV.Txn(ctx), r: r}
}

type txnRecorder struct {
	clientv3.Txn
	r *opRecorder
}

func (t *txnRecorder) If(cs ...clientv3.Cmp) clientv3.Txn { t.Txn = t.Txn.If(cs...); return t }

func (t *txnRecorder) Then(ops ...clientv3.Op) clientv3.Txn {
	t.r.add(ops...)
	t.Txn = t.Txn.Then(ops...)
	return t
}

func (t *txnRecorder) Else(ops ...clientv3.Op) clientv3.Txn {
	t.r.add(ops...)
	t.Txn = t.Txn.Else(ops...)
	return t
}

// logScans are the recorded reads of events/ to its end: the reads whose cost grows with
// the log on etcd 3.4, whatever their limit.
func (r *opRecorder) logScans(s *Etcd) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := s.k("events/")
	var out []string
	for _, op := range r.ops {
		if op.IsGet() && strings.HasPrefix(string(op.KeyBytes()), p) && string(op.RangeBytes()) == clientv3.GetPrefixRangeEnd(p) {
			out = append(out, string(op.KeyBytes()))
		}
	}
	return out
}

// openRecorded opens a store on prefix, on its own client, that records its operations.
func openRecorded(t *testing.T, prefix string, o Options) (*Etcd, *opRecorder) {
	t.Helper()
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := &opRecorder{KV: s.cli.KV}
	s.cli.KV = rec
	return s, rec
}

// checkLogFrom fails unless s's log is the events dropped+1..last, in order, none missing.
func checkLogFrom(t *testing.T, s *Etcd, maxEvents int) {
	t.Helper()
	evs, err := s.Events(Query{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Retention()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if r.DroppedThrough == 0 || len(evs) == 0 || evs[0].Seq != r.DroppedThrough+1 || evs[len(evs)-1].Seq != last {
		t.Fatalf("log holds %d events from %v, dropped through %d, last %d: want dropped+1..last", len(evs), evs[:min(len(evs), 1)], r.DroppedThrough, last)
	}
	// Each write drops at most a compaction batch: the log stays within one of its limit.
	if len(evs) > maxEvents+etcdCompactBatch {
		t.Errorf("log holds %d events, limit %d", len(evs), maxEvents)
	}
}

// TestEtcdCommitScansNoLog: a commit finds the log's oldest event by point reads, never
// by a read of events/ to its end (etcd 3.4 visits every key of such a read whatever its
// limit, so each write's cost grew with the log: at 10,000 nodes it was most of the
// members' CPU), and retention still holds when another instance moved the dropped
// mark since this one last read it.
func TestEtcdCommitScansNoLog(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	const maxEvents = 10
	a, recA := openRecorded(t, prefix, Options{MaxEvents: maxEvents})
	b, recB := openRecorded(t, prefix, Options{MaxEvents: maxEvents})
	for i := range 30 {
		for _, s := range []*Etcd{a, b, a} { // a finds the mark moved by b every other write
			if _, err := s.Update([]string{"x", "y"}[i%2], count); err != nil {
				t.Fatal(err)
			}
		}
	}
	updateQueued(t, a, 20, count)
	for name, rec := range map[string]*opRecorder{"a": recA, "b": recB} {
		if scans := rec.logScans(a); len(scans) > 0 {
			t.Errorf("store %s read the log to its end %d times (from %s): want point reads only", name, len(scans), scans[0])
		}
	}
	checkLogFrom(t, a, maxEvents)
}

// TestEtcdCompactsLogWithGap: a log whose oldest event is not the one after the dropped
// mark (a gap at its start, which racklift's own writes do not leave) is still found
// and compacted.
func TestEtcdCompactsLogWithGap(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	s, _ := openRecorded(t, prefix, Options{MaxEvents: 1000})
	for range 10 {
		if _, err := s.Update("x", count); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.cli.Delete(ctx, s.k("events/")+etcdSeq(1), clientv3.WithRange(s.k("events/")+etcdSeq(5))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, rec := openRecorded(t, prefix, Options{MaxEvents: 5})
	if _, err := s.Update("x", count); err != nil {
		t.Fatal(err)
	}
	if len(rec.logScans(s)) == 0 {
		t.Error("no read of the log to its end: the gap was not looked past")
	}
	checkLogFrom(t, s, 5)
}

// TestEtcdWritesWithDamagedMark: a dropped mark that is not a number (damage, which
// Check reports) does not fail writes: the oldest event is searched for instead.
func TestEtcdWritesWithDamagedMark(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	s, rec := openRecorded(t, prefix, Options{})
	if _, err := s.Update("x", count); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.cli.Put(ctx, s.k("meta/dropped"), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("x", count); err != nil {
		t.Fatalf("a write with the dropped mark damaged: %v", err)
	}
	if len(rec.logScans(s)) == 0 {
		t.Error("no read of the log to its end: the oldest event was not searched for")
	}
}
