package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// holdCommitter blocks s's committer in the fn of a first Update (node "hold") until
// release is called, so the Updates started meanwhile wait in the queue together.
func holdCommitter(t *testing.T, s *Etcd) (release func(), done <-chan error) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := s.Update("hold", func(n *Node) ([]Event, error) {
			once.Do(func() { close(in); <-out })
			return []Event{{Kind: "hold"}}, nil
		})
		errc <- err
	}()
	<-in
	return func() { close(out) }, errc
}

// waitQueued waits until n Updates wait in s's queue.
func waitQueued(t *testing.T, s *Etcd, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		q := len(s.queue)
		s.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Updates queued after a minute, want %d", q, n)
		}
	}
}

// updateQueued queues n Updates of nodes n0, n1, ... with fn behind a held committer,
// so they are taken in batches, then lets them commit; each that fails fails the test.
func updateQueued(t *testing.T, s *Etcd, n int, fn func(*Node) ([]Event, error)) {
	t.Helper()
	release, held := holdCommitter(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.Update(fmt.Sprintf("n%d", i), fn); err != nil {
				errs <- err
			}
		})
	}
	waitQueued(t, s, n)
	letCommit(t, release, held, &wg, errs)
}

// letCommit releases the held committer, waits for the Updates and fails the test with
// each that failed.
func letCommit(t *testing.T, release func(), held <-chan error, wg *sync.WaitGroup, errs chan error) {
	t.Helper()
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// count is an Update that counts its own commits in the node's Reason and logs two events.
func count(n *Node) ([]Event, error) {
	c, _ := strconv.Atoi(n.Reason)
	n.Reason = strconv.Itoa(c + 1)
	return []Event{{Kind: "a"}, {Kind: "b"}}, nil
}

// TestEtcdUpdatesCommitInBatches: concurrent Updates of one instance go to etcd as one
// transaction per batch (the fix for the etcd/bbolt ratio of bench-scale: one
// transaction each serialized them on the log's sequence), and batching loses nothing:
// with two instances writing at once every Update is applied exactly once (two of the
// same node included), the log has every event once, numbered 1..N in one order, and
// each node's history is in that order.
func TestEtcdUpdatesCommitInBatches(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	open := func() *Etcd {
		s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	cli := etcdClient(t, sharedEtcd(t))
	// The transactions that committed: the distinct revisions the logged events were
	// written at (the cluster's own revision counts other tests' writes too).
	txns := func() int {
		r, err := cli.Get(context.Background(), prefix+"events/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		revs := map[int64]bool{}
		for _, kv := range r.Kvs {
			revs[kv.ModRevision] = true
		}
		return len(revs)
	}
	const nodes = 60 // each written twice on a, once on b
	release, held := holdCommitter(t, a)
	var wg sync.WaitGroup
	errs := make(chan error, 3*nodes)
	for i := range nodes {
		for _, s := range []*Etcd{a, a, b} {
			wg.Go(func() {
				if _, err := s.Update(fmt.Sprintf("n%02d", i), count); err != nil {
					errs <- err
				}
			})
		}
	}
	waitQueued(t, a, 2*nodes)
	letCommit(t, release, held, &wg, errs)
	// a's 121 Updates of 61 nodes need at least 4 transactions (40 a batch, each node
	// once in a batch); one each would be 121. b's 60 run alongside, batched as they
	// come.
	if used := txns(); used > nodes+20 {
		t.Errorf("%d Updates took %d etcd transactions: not batched (at most %d expected)", 3*nodes+1, used, nodes+20)
	}
	for i := range nodes {
		n, err := a.Get(fmt.Sprintf("n%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if n.Reason != "3" {
			t.Errorf("node %s counted %q commits, want 3 (an Update lost or applied twice)", n.Name, n.Reason)
		}
	}
	evs, err := a.Events(Query{})
	if err != nil {
		t.Fatal(err)
	}
	want := 2*3*nodes + 1
	if len(evs) != want {
		t.Fatalf("%d events logged, want %d", len(evs), want)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has sequence %d: the log is not numbered 1..N", i, e.Seq)
		}
	}
	if last, _ := a.LastSeq(); last != uint64(want) {
		t.Errorf("last sequence %d, want %d", last, want)
	}
	hist, err := b.Events(Query{Node: "n07"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Seq <= hist[i-1].Seq {
			t.Errorf("n07's history out of order: %d after %d", hist[i].Seq, hist[i-1].Seq)
		}
	}
}

// TestEtcdBatchKeepsToMaxTxnOps: a batch whose writes would pass the members'
// --max-txn-ops (etcd's default, 128) is cut, and the rest commits in the next
// transactions: 30 Updates of four events are 270 writes, which etcd refuses as one
// transaction ("too many operations"), failing every Update in it.
func TestEtcdBatchKeepsToMaxTxnOps(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const updates = 30
	updateQueued(t, s, updates, func(n *Node) ([]Event, error) {
		return []Event{{Kind: "a"}, {Kind: "b"}, {Kind: "c"}, {Kind: "d"}}, nil
	})
	if last, _ := s.LastSeq(); last != 4*updates+1 {
		t.Errorf("last sequence %d, want %d", last, 4*updates+1)
	}
}

// TestEtcdBatchFencesEachUpdate: in one batch, the Update whose lock was taken by another
// instance fails with ErrFenced and writes nothing; the others in the same transaction
// commit.
func TestEtcdBatchFencesEachUpdate(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cli := etcdClient(t, sharedEtcd(t))
	ctx := context.Background()
	lock := func(node string) Fenced {
		put, err := cli.Put(ctx, prefix+"owners/"+node, "me")
		if err != nil {
			t.Fatal(err)
		}
		return Fenced{Key: prefix + "owners/" + node, Rev: put.Header.Revision}
	}
	kept, lost := lock("kept"), lock("lost")
	if _, err := cli.Put(ctx, lost.Key, "another instance"); err != nil { // a new revision, but not a new create revision
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, lost.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, lost.Key, "another instance"); err != nil {
		t.Fatal(err)
	}
	release, held := holdCommitter(t, s)
	got := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fences := range map[string][]Fenced{"kept": {kept}, "lost": {lost}, "free": nil} {
		wg.Go(func() {
			_, err := s.UpdateFenced(name, fences, count)
			mu.Lock()
			got[name] = err
			mu.Unlock()
		})
	}
	waitQueued(t, s, 3)
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(got["lost"], ErrFenced) {
		t.Errorf("Update under the lost lock: %v, want ErrFenced", got["lost"])
	}
	for _, name := range []string{"kept", "free"} {
		if got[name] != nil {
			t.Errorf("Update of %s beside the fenced one: %v", name, got[name])
		}
		if n, err := s.Get(name); err != nil || n.Reason != "1" {
			t.Errorf("%s after its Update: %+v, %v", name, n, err)
		}
	}
	if _, err := s.Get("lost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the fenced Update wrote its node: %v", err)
	}
	if last, _ := s.LastSeq(); last != 5 {
		t.Errorf("last sequence %d, want 5 (hold 1, kept 2, free 2)", last)
	}
}

// TestEtcdBatchLeavesRoomForCompaction: a batch's writes leave room in the transaction
// for the sequence, the dropped mark and a whole compaction batch (two deletes per old
// event), so a batch filled while the log is over its retention still commits: 30
// one-event Updates are 90 writes; with 65 for a compaction, a batch cut later than
// 62 writes would pass --max-txn-ops (128) and fail all its Updates.
func TestEtcdBatchLeavesRoomForCompaction(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	cfg := EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}
	s, err := OpenEtcd(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := s.Update("old", count); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Every later write is due to drop a whole compaction batch of the 100 old events.
	s, err = OpenEtcd(cfg, Options{MaxEvents: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	updateQueued(t, s, 30, setPhase("ready", Event{Kind: "a"}))
	if r, err := s.Retention(); err != nil || r.DroppedThrough < 2*etcdCompactBatch {
		t.Errorf("dropped through %d (%v): want two whole compaction batches, %d", r.DroppedThrough, err, 2*etcdCompactBatch)
	}
}

// TestEtcdBigUpdateCommitsAlone: an Update with more writes than a batch's room (40
// events: 81 writes) is never cut from its batch; it commits alone.
func TestEtcdBigUpdateCommitsAlone(t *testing.T) {
	t.Parallel()
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: etcdBackend.fresh(t)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := make([]Event, 40)
	for i := range evs {
		evs[i] = Event{Kind: "a"}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Update("big", setPhase("ready", evs...))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // a hang guard: a cut Update was queued again for ever
		t.Fatal("an Update of 40 events did not commit in 2 minutes")
	}
	if last, err := s.LastSeq(); err != nil || last != 40 {
		t.Errorf("last sequence %d (%v), want 40", last, err)
	}
}
