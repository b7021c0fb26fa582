package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/sanitize"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the database file inside the state directory.
const FileName = "state.db"

var (
	bucketMeta       = []byte("meta")
	bucketNodes      = []byte("nodes")
	bucketEvents     = []byte("events")
	bucketNodeEvents = []byte("node-events") // one sub-bucket per node: seq → nothing
	keySchema        = []byte("schema")
	keyDropped       = []byte("dropped") // newest event sequence number retention dropped
)

// noSync is false in racklift; the durability tests' writer sets it to prove they fail
// without fsync.
var noSync = false

// Options tune Open.
type Options struct {
	// ReadOnly opens an existing state without writing (e.g. the CLI while serve is down).
	// It fails with ErrNoState when there is none.
	ReadOnly bool
	// LockTimeout is how long to wait for another process's lock (default 1s); then Open
	// fails with ErrLocked.
	LockTimeout time.Duration
	// MaxEvents and MaxEventAge are the event log's retention (defaults DefaultMaxEvents,
	// DefaultMaxEventAge): each write drops events past either, oldest first.
	MaxEvents   int
	MaxEventAge time.Duration
	// Check runs the consistency check over the whole file after opening (serve at
	// start); a problem fails Open with ErrDamaged.
	Check bool
	// Now is the clock retention ages events by (default time.Now).
	Now func() time.Time
}

// Bolt is the embedded default store: one bbolt file, fsynced on every commit.
type Bolt struct {
	db   *bolt.DB
	path string
	opts Options

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when events are committed

	// writes orders bbolt's consistency check (Check, WriteBackup) with commits:
	// tx.Check reads the database's shared freelist, not its transaction's snapshot,
	// so a commit during a check raced (-race, make flake) and could have a healthy file
	// reported damaged. Taken before any transaction is opened (bbolt's remap waits for
	// readers).
	writes sync.Mutex
}

var _ Store = (*Bolt)(nil)

// Open opens (creating if needed, unless read-only) the state in dir.
func Open(dir string, opts Options) (*Bolt, error) {
	return OpenFile(filepath.Join(dir, FileName), opts)
}

// OpenFile opens the state file at path (a backup, or dir/state.db).
func OpenFile(path string, opts Options) (*Bolt, error) {
	dir := filepath.Dir(path)
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MaxEventAge <= 0 {
		opts.MaxEventAge = DefaultMaxEventAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoState, path)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	} else if err := tighten(dir); err != nil {
		return nil, err
	}
	if err := Preflight(path); err != nil {
		return nil, err
	}
	db, err := openGuarded(path, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (is `provision serve` running with this --state-dir?)", ErrLocked, path)
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, damaged(path, "%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	// Every commit is fsynced before Update returns (bbolt's default): an acknowledged
	// event survives a power loss. Only the durability tests turn this off, to show they
	// catch it (noSync is set by a test helper process, never by racklift).
	db.NoSync = noSync
	s := &Bolt{db: db, path: path, opts: opts, changed: make(chan struct{})}
	if opts.Check { // before init's first write, so a damaged file is left as it was
		if err := s.Check(); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := s.init(opts.ReadOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// tighten makes a state dir that already existed with group or other access 0700: it
// holds the CA key, the control token and token hashes.
func tighten(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state dir %s is mode %04o and could not be made 0700: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// openGuarded is bolt.Open with a panic or fault while it reads the file named as damage.
func openGuarded(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damaged(path, "%v", r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// Path is the database file.
func (s *Bolt) Path() string { return s.path }

// init checks the schema version, and on a writable open creates the buckets.
func (s *Bolt) init(readOnly bool) error {
	check := func(tx *bolt.Tx) (found bool, err error) {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return false, nil
		}
		v := meta.Get(keySchema)
		if v == nil {
			return false, nil
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n != SchemaVersion {
			return true, fmt.Errorf("%w: %s has schema version %s, this racklift reads version %d: use the racklift that wrote it, or move the state dir aside to start afresh",
				ErrSchemaMismatch, s.path, v, SchemaVersion)
		}
		return true, nil
	}
	if readOnly {
		return s.view(func(tx *bolt.Tx) error {
			found, err := check(tx)
			if err == nil && !found {
				err = fmt.Errorf("%w at %s (no schema version recorded)", ErrNoState, s.path)
			}
			return err
		})
	}
	return s.update(func(tx *bolt.Tx) error {
		found, err := check(tx)
		if err != nil {
			return err
		}
		if !found {
			if tx.Bucket(bucketNodes) != nil {
				return fmt.Errorf("%w: %s has nodes but no schema version: it was not written by racklift", ErrSchemaMismatch, s.path)
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
		}
		for _, b := range [][]byte{bucketNodes, bucketEvents, bucketNodeEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close releases the file.
func (s *Bolt) Close() error { return s.db.Close() }

// Get implements Store.
func (s *Bolt) Get(name string) (Node, error) {
	var n Node
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNodes).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return json.Unmarshal(v, &n)
	})
	return n, err
}

// List implements Store.
func (s *Bolt) List() ([]Node, error) {
	var out []Node
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("node %s: %w", k, err)
			}
			out = append(out, n)
			return nil
		})
	})
	return out, err // bbolt iterates keys in byte order: sorted by name
}

// Update implements Store.
func (s *Bolt) Update(name string, fn func(n *Node) ([]Event, error)) ([]Event, error) {
	if name == "" {
		return nil, errors.New("state: empty node name")
	}
	var logged []Event
	err := s.update(func(tx *bolt.Tx) error {
		logged = nil // bbolt does not retry, but keep fn's effects per attempt clean
		nodes := tx.Bucket(bucketNodes)
		n := Node{Name: name}
		if v := nodes.Get([]byte(name)); v != nil {
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("node %s: %w", name, err)
			}
		}
		evs, err := fn(&n)
		if err != nil {
			return err
		}
		n.Name = name
		events := tx.Bucket(bucketEvents)
		idx, err := tx.Bucket(bucketNodeEvents).CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for _, e := range evs {
			seq, err := events.NextSequence()
			if err != nil {
				return err
			}
			e = stamp(e, seq, name, n.Phase, s.opts.Now)
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := events.Put(seqKey(seq), b); err != nil {
				return err
			}
			if err := idx.Put(seqKey(seq), nil); err != nil {
				return err
			}
			logged = append(logged, e)
		}
		keepRecent(&n, logged)
		if err := bound(&n); err != nil {
			return err
		}
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if len(b) > MaxRecord {
			return fmt.Errorf("state: node %s: record of %d bytes is over the %d-byte limit: not written", name, len(b), MaxRecord)
		}
		if err := nodes.Put([]byte(name), b); err != nil {
			return err
		}
		if len(logged) == 0 {
			return nil
		}
		return s.compact(tx, logged[len(logged)-1].Time)
	})
	if err != nil {
		return nil, err
	}
	if len(logged) > 0 {
		s.mu.Lock()
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	return logged, nil
}

// bound applies the per-record limits: a capped reason and recent events, and the report
// refused past MaxReport (the agent API bounds it before; this is the store's own guard).
func bound(n *Node) error {
	n.Reason = sanitize.Cap(n.Reason, MaxReason)
	for i := range n.Recent {
		n.Recent[i].Detail = sanitize.Cap(n.Recent[i].Detail, MaxDetail)
	}
	if len(n.Report) > MaxReport {
		return fmt.Errorf("state: node %s: report of %d bytes is over the %d-byte limit: not stored", n.Name, len(n.Report), MaxReport)
	}
	return nil
}

// compact drops the oldest events past the log's count or age limits (age measured back
// from newest, the time of the event just written, so it follows the writer's clock), at most
// compactBatch per write, and records the newest dropped sequence number. Deletions free
// pages inside state.db for later writes (bbolt reuses them), so the file stops growing
// once the log is full.
func (s *Bolt) compact(tx *bolt.Tx, newest time.Time) error {
	events := tx.Bucket(bucketEvents)
	last := events.Sequence()
	idx := tx.Bucket(bucketNodeEvents)
	oldest := newest.Add(-s.opts.MaxEventAge)
	c := events.Cursor()
	var dropped uint64
	for k, v := c.First(); k != nil && dropped < compactBatch; k, v = c.First() {
		seq := binary.BigEndian.Uint64(k)
		var e Event
		bad := json.Unmarshal(v, &e) != nil
		if !bad && last-seq < uint64(s.opts.MaxEvents) && !e.Time.Before(oldest) {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if b := idx.Bucket([]byte(e.Node)); b != nil && e.Node != "" {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		dropped++
		if err := tx.Bucket(bucketMeta).Put(keyDropped, []byte(strconv.FormatUint(seq, 10))); err != nil {
			return err
		}
	}
	return nil
}

// Retention implements Store.
func (s *Bolt) Retention() (Retention, error) {
	r := Retention{MaxEvents: s.opts.MaxEvents, MaxAge: s.opts.MaxEventAge}
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyDropped); v != nil {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: meta %s=%q: %w", s.path, keyDropped, v, err)
			}
			r.DroppedThrough = n
		}
		return nil
	})
	return r, err
}

// Events implements Store.
func (s *Bolt) Events(q Query) ([]Event, error) {
	var out []Event
	err := s.view(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		var c *bolt.Cursor
		if q.Node == "" {
			c = events.Cursor()
		} else {
			idx := tx.Bucket(bucketNodeEvents).Bucket([]byte(q.Node))
			if idx == nil {
				return nil
			}
			c = idx.Cursor()
		}
		for k, _ := c.Seek(seqKey(q.After + 1)); k != nil; k, _ = c.Next() {
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
			v := events.Get(k)
			if v == nil {
				return fmt.Errorf("event %d is indexed for node %s but missing from the log", binary.BigEndian.Uint64(k), q.Node)
			}
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// LastSeq is the sequence number of the newest event (0: none).
func (s *Bolt) LastSeq() (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bucketEvents).Sequence()
		return nil
	})
	return seq, err
}

// pollEvery bounds how late Wait notices events committed by another process (a read-only
// CLI following serve's log).
const pollEvery = 250 * time.Millisecond

// Wait implements Store.
func (s *Bolt) Wait(ctx context.Context, after uint64) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		last, err := s.LastSeq()
		if err != nil {
			return err
		}
		if last > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-t.C:
		}
	}
}

func seqKey(seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return b[:]
}
