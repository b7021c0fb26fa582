package state

import (
	"context"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The log's oldest event decides whether a write also drops old events (compactOps). It
// is found by point reads, never by a range read of events/: etcd 3.4 (Debian's
// etcd-server) visits every key of a range in its index whatever the read's limit, so
// reading "the first key under events/" in every commit cost O(events) per commit, and
// at 10,000 nodes (100,000 events) that scan was most of the members' CPU
// (docs/scale.md). Compaction drops events from the oldest up and moves meta/dropped in
// the same transaction, so the oldest event is the one after the mark.

// oldestReads are the reads, for the commit's read transaction, that find the oldest
// event: the dropped mark, and the event after the mark as this store last saw it.
func (s *Etcd) oldestReads() (ops []clientv3.Op, guess uint64) {
	guess = max(s.oldestSeq.Load(), 1)
	return []clientv3.Op{clientv3.OpGet(s.k("meta/dropped")), clientv3.OpGet(s.k("events/") + etcdSeq(guess))}, guess
}

// oldestEvent is the oldest event (nil: the log is empty) from oldestReads' answers and
// the log's last sequence number read with them. The event after the mark is read again
// when another writer moved the mark since; the log is searched by a range read only
// when that event is missing from a log that is not empty (a gap at its start, which
// racklift's writes do not leave) or the mark is not a number (damage Check reports:
// writes go on as before).
func (s *Etcd) oldestEvent(ctx context.Context, mark, event *etcdserverpb.RangeResponse, guess, last uint64) (*mvccpb.KeyValue, error) {
	var dropped uint64
	var err error
	if len(mark.Kvs) > 0 {
		dropped, err = strconv.ParseUint(string(mark.Kvs[0].Value), 10, 64)
	}
	var kvs []*mvccpb.KeyValue
	if want := dropped + 1; err == nil {
		s.oldestSeq.Store(want)
		if last < want {
			return nil, nil
		}
		kvs = event.Kvs
		if want != guess {
			resp, err := s.get(ctx, s.k("events/")+etcdSeq(want))
			if err != nil {
				return nil, fmt.Errorf("state %s: oldest event: %w", s.where, err)
			}
			kvs = resp.Kvs
		}
	}
	if len(kvs) == 0 {
		p := s.k("events/")
		resp, err := s.get(ctx, p, clientv3.WithRange(clientv3.GetPrefixRangeEnd(p)), clientv3.WithLimit(1))
		if err != nil {
			return nil, fmt.Errorf("state %s: oldest event: %w", s.where, err)
		}
		kvs = resp.Kvs
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	return kvs[0], nil
}
