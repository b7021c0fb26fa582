package state

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// transient: what a member's failure gives while the cluster elects a new leader or the
// client moves to another member. The request is tried again until its deadline, so a
// member lost changes nothing a caller sees.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, e := range []error{rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeout,
		rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutWaitAppliedIndex} {
		if errors.Is(err, e) {
			return true
		}
	}
	return status.Code(err) == codes.Unavailable
}

// retryPause is the wait between tries of a request that failed transiently.
const retryPause = 100 * time.Millisecond

// do runs op until it succeeds, fails for good, or ctx ends.
func do[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	for {
		v, err := op(ctx)
		if !transient(err) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(retryPause):
		}
	}
}

// get is Get, tried again on transient errors.
func (s *Etcd) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return do(ctx, func(ctx context.Context) (*clientv3.GetResponse, error) { return s.cli.Get(ctx, key, opts...) })
}

// DefaultEtcdPrefix is where racklift keeps its state in an etcd cluster; a site sharing
// one cluster between two racklift installations gives each its own prefix.
const DefaultEtcdPrefix = "/racklift/"

// etcdCompactBatch bounds the old events one etcd write drops: each drop is one delete in
// the write's transaction, and etcd refuses transactions of more than 128 operations by
// default (--max-txn-ops).
const etcdCompactBatch = 32

// etcdOpTimeout bounds one etcd request: a write that cannot reach a quorum fails with
// this rather than hanging serve's handlers.
const etcdOpTimeout = 30 * time.Second

// EtcdConfig says how to reach the etcd cluster.
type EtcdConfig struct {
	// Endpoints are the members' client URLs (http://host:2379, https:// with TLS).
	Endpoints []string
	// CAFile, CertFile and KeyFile: client TLS (the CA that signed the members'
	// certificates; the client certificate when the members require one).
	CAFile, CertFile, KeyFile string
	// Prefix is where the state lives (default DefaultEtcdPrefix).
	Prefix string
	// DialTimeout bounds connecting (default 10s).
	DialTimeout time.Duration
	// OpTimeout bounds one request (default 30s): a write that cannot reach a quorum
	// fails after it, unacknowledged.
	OpTimeout time.Duration
	// MaxTxnOps is the members' --max-txn-ops (default DefaultMaxTxnOps, etcd's own):
	// how many writes one transaction of a batch may hold.
	MaxTxnOps int
	// Client, when set, is used instead of dialing (pkg/cluster shares it); Close then
	// leaves it open.
	Client *clientv3.Client
}

// Dial connects to the cluster cfg names.
func (cfg EtcdConfig) Dial() (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints given (--etcd-endpoints)")
	}
	cc, err := cfg.clientConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return cli, nil
}

// defaultDialTimeout bounds connecting when EtcdConfig.DialTimeout is not set.
const defaultDialTimeout = 10 * time.Second

// clientConfig is the etcd client's configuration for cfg, defaults filled in.
func (cfg EtcdConfig) clientConfig() (clientv3.Config, error) {
	// The client's own log (zap, to stderr) is off: its errors come back to the caller.
	cc := clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, Logger: zap.NewNop()}
	if cc.DialTimeout <= 0 {
		cc.DialTimeout = defaultDialTimeout
	}
	// A key alone is a half-given client certificate: tlsConfig refuses it.
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		tc, err := cfg.tlsConfig()
		if err != nil {
			return cc, err
		}
		cc.TLS = tc
	}
	return cc, nil
}

func (cfg EtcdConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("etcd client TLS: give both the certificate and the key (--etcd-cert, --etcd-key)")
		}
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s: %w", cfg.CertFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Etcd is the state on an etcd cluster, for several serve instances sharing nodes. Every
// write is one etcd transaction, acknowledged only once a quorum has committed it; the
// node record and the event sequence are compared by revision, so concurrent writers
// from any instance serialize (a loser re-reads and runs its fn again).
//
// Keys under Prefix: meta/schema, meta/seq (the last event sequence number), meta/dropped,
// nodes/NAME, events/SEQ (20 digits, so they sort), node-events/NAME/SEQ (a copy of the
// event: one node's history is one range read).
type Etcd struct {
	cli     *clientv3.Client
	own     bool
	prefix  string
	opts    Options
	where   string // how errors name the store
	timeout time.Duration
	maxOps  int
	page    int    // keys per range read (listPage; tests page smaller)
	paged   func() // tests: called after each range read but the last
	// oldestSeq is the log's oldest sequence number as last read (etcd_oldest.go).
	oldestSeq atomic.Uint64
	backoff   func(try time.Duration) // a lost batch's pause (etcd_backoff.go; tests record it)

	mu         sync.Mutex
	queue      []*update // Updates waiting for a batch
	committing bool      // a commitLoop runs
}

var _ Store = (*Etcd)(nil)

// OpenEtcd opens the state under cfg.Prefix, writing the schema version on first use
// (unless opts.ReadOnly).
func OpenEtcd(cfg EtcdConfig, opts Options) (*Etcd, error) {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MaxEventAge <= 0 {
		opts.MaxEventAge = DefaultMaxEventAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = etcdOpTimeout
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	s := &Etcd{cli: cfg.Client, prefix: cfg.Prefix, opts: opts, timeout: cfg.OpTimeout, maxOps: cfg.MaxTxnOps, page: listPage, backoff: backoff}
	if s.cli == nil {
		cli, err := cfg.Dial()
		if err != nil {
			return nil, err
		}
		s.cli, s.own = cli, true
	}
	s.where = "etcd " + strings.Join(s.cli.Endpoints(), ",") + " prefix " + s.prefix
	if err := s.init(opts.ReadOnly); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Check {
		if err := s.Check(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Client is the etcd client the store uses.
func (s *Etcd) Client() *clientv3.Client { return s.cli }

// Prefix is where the state lives.
func (s *Etcd) Prefix() string { return s.prefix }

// Where names the store in messages.
func (s *Etcd) Where() string { return s.where }

func (s *Etcd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

func (s *Etcd) k(parts ...string) string { return s.prefix + strings.Join(parts, "") }

func (s *Etcd) nodeKey(name string) string { return s.k("nodes/", url.PathEscape(name)) }

// nodeEventsPrefix is per node, escaped so no name is a prefix of another's keys.
func (s *Etcd) nodeEventsPrefix(name string) string {
	return s.k("node-events/", url.PathEscape(name), "/")
}

func etcdSeq(seq uint64) string { return fmt.Sprintf("%020d", seq) }

func (s *Etcd) init(readOnly bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.k("meta/schema")
	resp, err := s.get(ctx, key)
	if err != nil {
		return fmt.Errorf("state %s: %w", s.where, err)
	}
	if len(resp.Kvs) == 0 {
		if readOnly {
			return fmt.Errorf("%w at %s (no schema version recorded)", ErrNoState, s.where)
		}
		// Create it only if still absent: two instances starting at once agree.
		if _, err := do(ctx, func(ctx context.Context) (*clientv3.TxnResponse, error) {
			return s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, strconv.Itoa(SchemaVersion))).Commit()
		}); err != nil {
			return fmt.Errorf("state %s: %w", s.where, err)
		}
		return s.init(true)
	}
	v := string(resp.Kvs[0].Value)
	if n, err := strconv.Atoi(v); err != nil || n != SchemaVersion {
		return fmt.Errorf("%w: %s has schema version %s, this racklift reads version %d: use the racklift that wrote it, or give another --etcd-prefix",
			ErrSchemaMismatch, s.where, v, SchemaVersion)
	}
	return nil
}

// Close releases the client when the store dialed it.
func (s *Etcd) Close() error {
	if s.own {
		return s.cli.Close()
	}
	return nil
}

// Get implements Store.
func (s *Etcd) Get(name string) (Node, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.get(ctx, s.nodeKey(name))
	if err != nil {
		return Node{}, fmt.Errorf("state %s: get %s: %w", s.where, name, err)
	}
	if len(resp.Kvs) == 0 {
		return Node{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	var n Node
	if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
		return Node{}, fmt.Errorf("node %s: %w", name, err)
	}
	return n, nil
}

// listPage bounds one range read of List and Events, so 10,000 nodes with reports are
// never one huge response.
const listPage = 500

// rangeAll reads every key from..end in pages, all at one revision (a consistent view).
func (s *Etcd) rangeAll(from, end string, limit int, fn func(k, v []byte) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	var rev int64
	n := 0
	for {
		page := int64(s.page)
		if limit > 0 {
			page = min(page, int64(limit-n))
		}
		// Revision 0 (the first page) is the current one.
		resp, err := s.get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithRev(rev))
		if err != nil {
			return fmt.Errorf("state %s: %w", s.where, err)
		}
		if rev == 0 {
			// A response's header carries the store's current revision, not the one read
			// at: later pages keep the first's.
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv.Key, kv.Value); err != nil {
				return err
			}
			n++
		}
		if !resp.More || len(resp.Kvs) == 0 || limit > 0 && n >= limit {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if s.paged != nil {
			s.paged()
		}
	}
}

// List implements Store.
func (s *Etcd) List() ([]Node, error) {
	var out []Node
	p := s.k("nodes/")
	err := s.rangeAll(p, clientv3.GetPrefixRangeEnd(p), 0, func(k, v []byte) error {
		var n Node
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("node %s: %w", strings.TrimPrefix(string(k), p), err)
		}
		out = append(out, n)
		return nil
	})
	// Keys are escaped names; sort by the names themselves, as Bolt does.
	sortNodes(out)
	return out, err
}

func sortNodes(ns []Node) {
	slices.SortFunc(ns, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
}

// Fenced is a write condition: the key must still have the create revision Rev (a lock
// held by this instance: one another instance took since has a new revision).
type Fenced struct {
	Key string
	Rev int64
}

// ErrFenced: a write was refused because the lock it was fenced by is no longer this
// instance's (it lost the node to another instance).
var ErrFenced = errors.New("state write refused: this instance no longer holds the node's lock")

// Update implements Store: fn may run more than once when another writer committed
// between the read and the write; only the run whose write commits counts.
func (s *Etcd) Update(name string, fn func(n *Node) ([]Event, error)) ([]Event, error) {
	return s.UpdateFenced(name, nil, fn)
}

// compactOps are the deletes dropping the oldest events past the count or age limits
// (at most etcdCompactBatch), and the dropped mark; nothing when the oldest stays. The
// events looked at are a bounded range from the oldest (see etcd_oldest.go).
func (s *Etcd) compactOps(ctx context.Context, oldest *mvccpb.KeyValue, last uint64, newest time.Time, dropKey, evPrefix string) ([]clientv3.Op, error) {
	oldestOK := newest.Add(-s.opts.MaxEventAge)
	keep := func(v []byte) bool {
		var e Event
		if json.Unmarshal(v, &e) != nil {
			return false
		}
		return last-e.Seq < uint64(s.opts.MaxEvents) && !e.Time.Before(oldestOK)
	}
	if keep(oldest.Value) {
		return nil, nil
	}
	from, err := strconv.ParseUint(strings.TrimPrefix(string(oldest.Key), evPrefix), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("state %s: compact: event key %q: %w", s.where, oldest.Key, err)
	}
	resp, err := s.get(ctx, evPrefix+etcdSeq(from), clientv3.WithRange(evPrefix+etcdSeq(from+etcdCompactBatch)))
	if err != nil {
		return nil, fmt.Errorf("state %s: compact: %w", s.where, err)
	}
	var ops []clientv3.Op
	var dropped string
	for _, kv := range resp.Kvs {
		if keep(kv.Value) {
			break
		}
		var e Event
		_ = json.Unmarshal(kv.Value, &e)
		seq := strings.TrimPrefix(string(kv.Key), evPrefix)
		ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		if e.Node != "" {
			ops = append(ops, clientv3.OpDelete(s.nodeEventsPrefix(e.Node)+seq))
		}
		dropped = seq
	}
	if dropped != "" {
		n, _ := strconv.ParseUint(dropped, 10, 64)
		ops = append(ops, clientv3.OpPut(dropKey, strconv.FormatUint(n, 10)))
	}
	return ops, nil
}

// Retention implements Store.
func (s *Etcd) Retention() (Retention, error) {
	r := Retention{MaxEvents: s.opts.MaxEvents, MaxAge: s.opts.MaxEventAge}
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.get(ctx, s.k("meta/dropped"))
	if err != nil {
		return r, fmt.Errorf("state %s: %w", s.where, err)
	}
	if len(resp.Kvs) > 0 {
		n, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
		if err != nil {
			return r, fmt.Errorf("%s: meta/dropped=%q: %w", s.where, resp.Kvs[0].Value, err)
		}
		r.DroppedThrough = n
	}
	return r, nil
}

// Events implements Store.
func (s *Etcd) Events(q Query) ([]Event, error) {
	p := s.k("events/")
	if q.Node != "" {
		p = s.nodeEventsPrefix(q.Node)
	}
	var out []Event
	err := s.rangeAll(p+etcdSeq(q.After+1), clientv3.GetPrefixRangeEnd(p), q.Limit, func(k, v []byte) error {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("event %s: %w", strings.TrimPrefix(string(k), p), err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// LastSeq implements Store.
func (s *Etcd) LastSeq() (uint64, error) {
	seq, _, err := s.lastSeq()
	return seq, err
}

func (s *Etcd) lastSeq() (uint64, int64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.get(ctx, s.k("meta/seq"))
	if err != nil {
		return 0, 0, fmt.Errorf("state %s: %w", s.where, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, resp.Header.Revision, nil
	}
	n, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("state %s: meta/seq=%q: %w", s.where, resp.Kvs[0].Value, err)
	}
	return n, resp.Header.Revision, nil
}

// Wait implements Store: it watches the sequence key from the revision it read, so an
// event committed by any instance wakes it.
func (s *Etcd) Wait(ctx context.Context, after uint64) error {
	for {
		last, rev, err := s.lastSeq()
		if err != nil {
			return err
		}
		if last > after {
			return nil
		}
		wctx, cancel := context.WithCancel(ctx)
		wch := s.cli.Watch(clientv3.WithRequireLeader(wctx), s.k("meta/seq"), clientv3.WithRev(rev+1))
		select {
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		case <-wch:
		case <-time.After(pollEvery * 20): // a watch broken by a member's failure is redone
		}
		cancel()
	}
}

// getManyBatch bounds the reads of one GetMany transaction (etcd's --max-txn-ops).
const getManyBatch = 100

// GetMany returns the records of the named nodes that exist, sorted by name, reading
// them in transactions of a hundred rather than the whole state: an instance's lifecycle
// looks only at the nodes it holds.
func (s *Etcd) GetMany(names []string) ([]Node, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out []Node
	for len(names) > 0 {
		batch := names[:min(len(names), getManyBatch)]
		names = names[len(batch):]
		ops := make([]clientv3.Op, 0, len(batch))
		for _, n := range batch {
			ops = append(ops, clientv3.OpGet(s.nodeKey(n)))
		}
		resp, err := do(ctx, func(ctx context.Context) (*clientv3.TxnResponse, error) { return s.cli.Txn(ctx).Then(ops...).Commit() })
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", s.where, err)
		}
		for i, r := range resp.Responses {
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue
			}
			var n Node
			if err := json.Unmarshal(kvs[0].Value, &n); err != nil {
				return nil, fmt.Errorf("node %s: %w", batch[i], err)
			}
			out = append(out, n)
		}
	}
	sortNodes(out)
	return out, nil
}
