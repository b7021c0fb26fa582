package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// snapshot is a whole state, raw: what a backup or a migration copies.
type snapshot struct {
	Nodes   map[string][]byte // name → record JSON
	Events  [][]byte          // event JSON in sequence order
	Seqs    []uint64          // the events' sequence numbers
	LastSeq uint64
	Dropped uint64
}

// readSnapshot reads the Bolt state in one read transaction.
func (s *Bolt) readSnapshot() (*snapshot, error) {
	snap := &snapshot{Nodes: map[string][]byte{}}
	err := s.view(func(tx *bolt.Tx) error {
		if err := checkTx(tx, s.path); err != nil {
			return err
		}
		if err := tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			snap.Nodes[string(k)] = append([]byte(nil), v...)
			return nil
		}); err != nil {
			return err
		}
		ev := tx.Bucket(bucketEvents)
		snap.LastSeq = ev.Sequence()
		if err := ev.ForEach(func(k, v []byte) error {
			snap.Seqs = append(snap.Seqs, binary.BigEndian.Uint64(k))
			snap.Events = append(snap.Events, append([]byte(nil), v...))
			return nil
		}); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyDropped); v != nil {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: meta %s=%q: %w", s.path, keyDropped, v, err)
			}
			snap.Dropped = n
		}
		return nil
	})
	return snap, err
}

// readSnapshot reads the etcd state at one revision.
func (s *Etcd) readSnapshot() (*snapshot, error) {
	snap := &snapshot{Nodes: map[string][]byte{}}
	ctx, cancel := s.ctx()
	defer cancel()
	// Pin a revision: everything below reads at it.
	head, err := s.get(ctx, s.k("meta/seq"))
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.where, err)
	}
	rev := head.Header.Revision
	if len(head.Kvs) > 0 {
		if snap.LastSeq, err = strconv.ParseUint(string(head.Kvs[0].Value), 10, 64); err != nil {
			return nil, fmt.Errorf("state %s: meta/seq=%q: %w", s.where, head.Kvs[0].Value, err)
		}
	}
	if r, err := s.get(ctx, s.k("meta/dropped"), clientv3.WithRev(rev)); err != nil {
		return nil, fmt.Errorf("state %s: %w", s.where, err)
	} else if len(r.Kvs) > 0 {
		snap.Dropped, _ = strconv.ParseUint(string(r.Kvs[0].Value), 10, 64)
	}
	read := func(p string, fn func(k string, v []byte) error) error {
		from := p
		for {
			r, err := s.get(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(p)), clientv3.WithLimit(int64(s.page)), clientv3.WithRev(rev))
			if err != nil {
				return fmt.Errorf("state %s: %w", s.where, err)
			}
			for _, kv := range r.Kvs {
				if err := fn(strings.TrimPrefix(string(kv.Key), p), kv.Value); err != nil {
					return err
				}
			}
			if !r.More || len(r.Kvs) == 0 {
				return nil
			}
			from = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
		}
	}
	if err := read(s.k("nodes/"), func(k string, v []byte) error {
		name, err := url.PathUnescape(k)
		if err != nil {
			return fmt.Errorf("state %s: node key %q: %w", s.where, k, err)
		}
		snap.Nodes[name] = v
		return nil
	}); err != nil {
		return nil, err
	}
	if err := read(s.k("events/"), func(k string, v []byte) error {
		seq, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return fmt.Errorf("state %s: event key %q: %w", s.where, k, err)
		}
		snap.Seqs = append(snap.Seqs, seq)
		snap.Events = append(snap.Events, v)
		return nil
	}); err != nil {
		return nil, err
	}
	return snap, nil
}

// Check implements Store: every node record and event decodes, under its own key, and no
// event is newer than the sequence. It returns ErrDamaged with the first problems found.
func (s *Etcd) Check() error {
	if err := s.init(true); err != nil {
		return err
	}
	snap, err := s.readSnapshot()
	if err != nil {
		return err
	}
	var errs []error
	for name, v := range snap.Nodes {
		var n Node
		if err := json.Unmarshal(v, &n); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", name, err))
		} else if n.Name != name {
			errs = append(errs, fmt.Errorf("node %s: record names %q", name, n.Name))
		}
	}
	for i, v := range snap.Events {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", snap.Seqs[i], err))
		} else if e.Seq != snap.Seqs[i] || e.Seq > snap.LastSeq {
			errs = append(errs, fmt.Errorf("event %d: has sequence number %d (last %d)", snap.Seqs[i], e.Seq, snap.LastSeq))
		}
	}
	if errs = errs[:min(len(errs), 5)]; len(errs) > 0 {
		return fmt.Errorf("%w: the state in %s fails its consistency check: %v: restore it (provision state migrate --from BACKUP)", ErrDamaged, s.where, errors.Join(errs...))
	}
	return nil
}

// WriteBackup implements Store: the etcd state at one revision, written as a bbolt state
// file (the same format as Bolt's backups, so `provision state check` and a restore or a
// migration read it).
func (s *Etcd) WriteBackup(w io.Writer) (int64, error) {
	snap, err := s.readSnapshot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "racklift-etcd-backup-")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(dir)
	b, err := OpenFile(filepath.Join(dir, FileName), Options{})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	if err := b.writeSnapshot(snap); err != nil {
		return 0, err
	}
	return b.WriteBackup(w)
}

// writeSnapshot fills an empty Bolt state with snap in one transaction.
func (s *Bolt) writeSnapshot(snap *snapshot) error {
	return s.update(func(tx *bolt.Tx) error {
		nodes, events, idx := tx.Bucket(bucketNodes), tx.Bucket(bucketEvents), tx.Bucket(bucketNodeEvents)
		if nodes.Stats().KeyN > 0 || events.Sequence() > 0 {
			return fmt.Errorf("state %s is not empty: not overwriting it", s.path)
		}
		for name, v := range snap.Nodes {
			if err := nodes.Put([]byte(name), v); err != nil {
				return err
			}
		}
		for i, v := range snap.Events {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", snap.Seqs[i], err)
			}
			if err := events.Put(seqKey(snap.Seqs[i]), v); err != nil {
				return err
			}
			b, err := idx.CreateBucketIfNotExists([]byte(e.Node))
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(snap.Seqs[i]), nil); err != nil {
				return err
			}
		}
		if err := events.SetSequence(snap.LastSeq); err != nil {
			return err
		}
		if snap.Dropped > 0 {
			return tx.Bucket(bucketMeta).Put(keyDropped, []byte(strconv.FormatUint(snap.Dropped, 10)))
		}
		return nil
	})
}

// migrateBatch is how many puts one migration transaction carries (etcd's default
// --max-txn-ops is 128).
const migrateBatch = 100

// Migrated says what Migrate copied.
type Migrated struct {
	Nodes, Events int
	LastSeq       uint64
}

// Migrate copies a Bolt state (serve stopped, or a backup) into an empty etcd state:
// every node record, the event log with its sequence numbers, and the retention mark.
// It refuses a destination that already holds nodes or events, and checks the copy
// against the source before returning.
func Migrate(src *Bolt, dst *Etcd) (Migrated, error) {
	snap, err := src.readSnapshot()
	if err != nil {
		return Migrated{}, err
	}
	ctx, cancel := dst.ctx()
	defer cancel()
	for _, p := range []string{"nodes/", "events/"} {
		r, err := dst.get(ctx, dst.k(p), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return Migrated{}, fmt.Errorf("state %s: %w", dst.where, err)
		}
		if r.Count > 0 {
			return Migrated{}, fmt.Errorf("state %s already holds %d %s: migrate only into an empty prefix (give another --etcd-prefix, or delete that one with etcdctl)", dst.where, r.Count, strings.TrimSuffix(p, "/"))
		}
	}
	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		// Plain puts: trying again after an unknown outcome writes the same.
		if _, err := do(ctx, func(ctx context.Context) (*clientv3.TxnResponse, error) {
			return dst.cli.Txn(ctx).Then(ops...).Commit()
		}); err != nil {
			return fmt.Errorf("state %s: migrate: %w", dst.where, err)
		}
		ops = ops[:0]
		return nil
	}
	add := func(op clientv3.Op) error {
		ops = append(ops, op)
		if len(ops) >= migrateBatch {
			return flush()
		}
		return nil
	}
	for i, v := range snap.Events {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return Migrated{}, fmt.Errorf("%s: event %d: %w", src.path, snap.Seqs[i], err)
		}
		if err := add(clientv3.OpPut(dst.k("events/")+etcdSeq(snap.Seqs[i]), string(v))); err != nil {
			return Migrated{}, err
		}
		if err := add(clientv3.OpPut(dst.nodeEventsPrefix(e.Node)+etcdSeq(snap.Seqs[i]), string(v))); err != nil {
			return Migrated{}, err
		}
	}
	for name, v := range snap.Nodes {
		if err := add(clientv3.OpPut(dst.nodeKey(name), string(v))); err != nil {
			return Migrated{}, err
		}
	}
	if snap.Dropped > 0 {
		if err := add(clientv3.OpPut(dst.k("meta/dropped"), strconv.FormatUint(snap.Dropped, 10))); err != nil {
			return Migrated{}, err
		}
	}
	// The sequence last: an instance started on a half-copied state would see no events.
	if err := add(clientv3.OpPut(dst.k("meta/seq"), strconv.FormatUint(snap.LastSeq, 10))); err != nil {
		return Migrated{}, err
	}
	if err := flush(); err != nil {
		return Migrated{}, err
	}
	got, err := dst.readSnapshot()
	if err != nil {
		return Migrated{}, err
	}
	if len(got.Nodes) != len(snap.Nodes) || len(got.Events) != len(snap.Events) || got.LastSeq != snap.LastSeq {
		return Migrated{}, fmt.Errorf("state %s after migration holds %d nodes, %d events, last sequence %d; %s holds %d, %d, %d",
			dst.where, len(got.Nodes), len(got.Events), got.LastSeq, src.path, len(snap.Nodes), len(snap.Events), snap.LastSeq)
	}
	return Migrated{Nodes: len(snap.Nodes), Events: len(snap.Events), LastSeq: snap.LastSeq}, nil
}
