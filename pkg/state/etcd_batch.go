package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every write that logs an event advances the one log sequence (meta/seq), compared by
// revision in the write's transaction. Writing each Update alone makes an instance's
// concurrent writes (and the instances') race for that key, one quorum commit at a time,
// the losers reading again. So an instance queues its Updates and a single committer puts
// as many as fit into one transaction (group commit, as bbolt's Batch): the log's order
// stays one commit order, and the conflicts left are between instances, a batch each.

// maxBatch bounds the Updates of one transaction: its reads (one per node) and its
// compares (one per node, one per fence) stay under etcd's default --max-txn-ops (128).
const maxBatch = 40

// DefaultMaxTxnOps is etcd's default --max-txn-ops: the most puts and deletes one
// transaction may hold.
const DefaultMaxTxnOps = 128

// update is one Update waiting for, or in, a batch.
type update struct {
	name     string
	fences   []Fenced
	fn       func(n *Node) ([]Event, error)
	deadline time.Time
	tries    []tried
	done     chan updateResult
}

type updateResult struct {
	logged []Event
	err    error
}

func (u *update) finish(logged []Event, err error) { u.done <- updateResult{logged, err} }

// tried is one try of an Update: the record it wrote and the events it logged. A write
// whose outcome is unknown (the leader was lost while it was in flight) may still commit:
// finding one of its tries' records stored means that try committed, so fn's changes are
// never applied twice.
type tried struct {
	record string
	logged []Event
}

// UpdateFenced is Update that commits only while every fence holds; otherwise it
// fails with ErrFenced and writes nothing.
func (s *Etcd) UpdateFenced(name string, fences []Fenced, fn func(n *Node) ([]Event, error)) ([]Event, error) {
	if name == "" {
		return nil, errors.New("state: empty node name")
	}
	u := &update{name: name, fences: fences, fn: fn, deadline: time.Now().Add(s.timeout), done: make(chan updateResult, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, u)
	if !s.committing {
		s.committing = true
		go s.commitLoop()
	}
	s.mu.Unlock()
	r := <-u.done
	return r.logged, r.err
}

// commitLoop commits batches until the queue is empty.
func (s *Etcd) commitLoop() {
	for {
		batch := s.take()
		if len(batch) == 0 {
			return
		}
		s.requeue(s.commit(batch))
	}
}

// take removes the next batch from the queue: at most maxBatch Updates, one per node
// (a transaction cannot put a key twice; a later Update of the same node waits for the
// next batch, in order). Empty when the queue is, and then the committer ends.
func (s *Etcd) take() []*update {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch, rest []*update
	names := map[string]bool{}
	for _, u := range s.queue {
		if len(batch) == maxBatch || names[u.name] {
			rest = append(rest, u)
			continue
		}
		names[u.name] = true
		batch = append(batch, u)
	}
	s.queue = rest
	if len(batch) == 0 {
		s.committing = false
	}
	return batch
}

// requeue puts Updates to try again at the front of the queue.
func (s *Etcd) requeue(us []*update) {
	if len(us) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(us, s.queue...)
	s.mu.Unlock()
}

// member is an Update in the transaction being built.
type member struct {
	*update
	rev    int64 // the node record's revision read (0: absent)
	logged []Event
}

// commit tries batch as one transaction and returns the Updates to try again; every
// other one is finished.
func (s *Etcd) commit(batch []*update) (again []*update) {
	nkey := func(u *update) string { return s.nodeKey(u.name) }
	seqKey, dropKey, evPrefix := s.k("meta/seq"), s.k("meta/dropped"), s.k("events/")
	live := batch[:0]
	for _, u := range batch {
		if time.Now().After(u.deadline) {
			u.finish(nil, fmt.Errorf("state %s: write %s: %w", s.where, u.name, context.DeadlineExceeded))
			continue
		}
		live = append(live, u)
	}
	if len(live) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	started := time.Now()
	// One read transaction: the nodes, the sequence, the oldest event, at one revision.
	reads := make([]clientv3.Op, 0, len(live)+3)
	for _, u := range live {
		reads = append(reads, clientv3.OpGet(nkey(u)))
	}
	oldestOps, guess := s.oldestReads()
	reads = append(append(reads, clientv3.OpGet(seqKey)), oldestOps...)
	rd, err := do(ctx, func(ctx context.Context) (*clientv3.TxnResponse, error) {
		return s.cli.Txn(ctx).Then(reads...).Commit()
	})
	if err != nil {
		for _, u := range live {
			u.finish(nil, fmt.Errorf("state %s: read %s: %w", s.where, u.name, err))
		}
		return nil
	}
	var last uint64
	var seqRev int64
	if kvs := rd.Responses[len(live)].GetResponseRange().Kvs; len(kvs) > 0 {
		seqRev = kvs[0].ModRevision
		if last, err = strconv.ParseUint(string(kvs[0].Value), 10, 64); err != nil {
			err = fmt.Errorf("state %s: meta/seq=%q: %w", s.where, kvs[0].Value, err)
			for _, u := range live {
				u.finish(nil, err)
			}
			return nil
		}
	}
	lastRead := last // last is advanced below by each member's events
	// Room for the sequence, the dropped mark and the compaction's deletes.
	room := s.maxOps - 2 - 2*etcdCompactBatch
	var members []member
	var ops []clientv3.Op
	for i, u := range live {
		m, mops, err := s.prepare(u, rd.Responses[i].GetResponseRange().Kvs, last)
		if err != nil || m == nil { // failed, or an earlier try committed: finished
			continue
		}
		if len(members) > 0 && len(ops)+len(mops) > room {
			again = append(again, live[i:]...) // its fn runs again in the next batch
			break
		}
		if n := len(m.logged); n > 0 {
			last = m.logged[n-1].Seq
		}
		members = append(members, *m)
		ops = append(ops, mops...)
	}
	if len(members) == 0 {
		return again
	}
	var cmps, fenceCmps []clientv3.Cmp
	var elses []clientv3.Op
	var newest time.Time
	for _, m := range members {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(nkey(m.update)), "=", m.rev))
		elses = append(elses, clientv3.OpGet(nkey(m.update)))
		for _, f := range m.fences {
			fenceCmps = append(fenceCmps, clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Rev))
			elses = append(elses, clientv3.OpGet(f.Key))
		}
		if n := len(m.logged); n > 0 {
			newest = m.logged[n-1].Time
		}
	}
	if !newest.IsZero() {
		ops = append(ops, clientv3.OpPut(seqKey, strconv.FormatUint(last, 10)))
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(seqKey), "=", seqRev))
		oldest, err := s.oldestEvent(ctx, rd.Responses[len(live)+1].GetResponseRange(), rd.Responses[len(live)+2].GetResponseRange(), guess, lastRead)
		var drop []clientv3.Op
		if err == nil && oldest != nil {
			drop, err = s.compactOps(ctx, oldest, last, newest, dropKey, evPrefix)
		}
		if err != nil {
			for _, m := range members {
				m.finish(nil, err)
			}
			return again
		}
		ops = append(ops, drop...)
	}
	resp, err := s.cli.Txn(ctx).If(append(cmps, fenceCmps...)...).Then(ops...).Else(elses...).Commit()
	if transient(err) {
		time.Sleep(retryPause)
		for _, m := range members {
			again = append(again, m.update) // outcome unknown: the next read tells
		}
		return again
	}
	if err != nil {
		for _, m := range members {
			m.finish(nil, fmt.Errorf("state %s: write %s: %w", s.where, m.name, err))
		}
		return again
	}
	if resp.Succeeded {
		for _, m := range members {
			m.finish(m.logged, nil)
		}
		return again
	}
	// Lost: a node written by another writer, the sequence advanced by another
	// instance, or a lock lost. Only the last fails; the others go again, after a
	// pause (etcd_backoff.go).
	s.backoff(time.Since(started))
	i := 0
	for _, m := range members {
		i++ // the node's read-back
		var lost *Fenced
		for _, f := range m.fences {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 || kvs[0].CreateRevision != f.Rev {
				lost = &f
			}
			i++
		}
		if lost != nil {
			m.finish(nil, fmt.Errorf("node %s: %w (lock %s)", m.name, ErrFenced, lost.Key))
			continue
		}
		again = append(again, m.update)
	}
	return again
}

// prepare runs u's fn on the record read (kvs) and returns its writes, its events
// numbered from last+1. A nil member means u is finished: fn failed, or an earlier try
// of u turned out committed.
func (s *Etcd) prepare(u *update, kvs []*mvccpb.KeyValue, last uint64) (*member, []clientv3.Op, error) {
	n := Node{Name: u.name}
	m := &member{update: u}
	if len(kvs) > 0 {
		for _, t := range u.tries {
			if t.record == string(kvs[0].Value) {
				u.finish(t.logged, nil)
				return nil, nil, nil
			}
		}
		m.rev = kvs[0].ModRevision
		if err := json.Unmarshal(kvs[0].Value, &n); err != nil {
			err = fmt.Errorf("node %s: %w", u.name, err)
			u.finish(nil, err)
			return nil, nil, err
		}
	}
	evs, err := u.fn(&n)
	if err != nil {
		u.finish(nil, err)
		return nil, nil, err
	}
	n.Name = u.name
	var ops []clientv3.Op
	for _, e := range evs {
		last++
		e = stamp(e, last, u.name, n.Phase, s.opts.Now)
		b, err := json.Marshal(e)
		if err != nil {
			u.finish(nil, err)
			return nil, nil, err
		}
		ops = append(ops, clientv3.OpPut(s.k("events/")+etcdSeq(e.Seq), string(b)),
			clientv3.OpPut(s.nodeEventsPrefix(u.name)+etcdSeq(e.Seq), string(b)))
		m.logged = append(m.logged, e)
	}
	keepRecent(&n, m.logged)
	if err := bound(&n); err != nil {
		u.finish(nil, err)
		return nil, nil, err
	}
	b, err := json.Marshal(n)
	if err == nil && len(b) > MaxRecord {
		err = fmt.Errorf("state: node %s: record of %d bytes is over the %d-byte limit: not written", u.name, len(b), MaxRecord)
	}
	if err != nil {
		u.finish(nil, err)
		return nil, nil, err
	}
	u.tries = append(u.tries, tried{record: string(b), logged: m.logged})
	return m, append(ops, clientv3.OpPut(s.nodeKey(u.name), string(b))), nil
}
