// Package cluster shares one site between several serve instances on etcd: per
// provisioning network one instance answers DHCP (an etcd election, the others stand
// by), and per node one instance drives the lifecycle and its BMC (a lock on the
// instance's lease, with fencing: every state write of a held node commits only while
// the lock keeps the revision it was taken at, and a BMC call is made only after the lock
// is read back as still held). When an instance dies, its lease expires and the others
// take its networks and nodes over within the lease time.
//
// Nodes are shared out by rendezvous hashing over the live instances, so each instance
// computes the same owner for each node without talking to the others, and a node moves
// only when the instance it hashes to comes or goes.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// DefaultLease is the time within which the others take over a dead instance's
// networks and nodes (--lease). Its etcd lease is a second shorter (etcdTTL), renewed
// every sixth of that (keepFresh), so it stays fresh through answers up to 2 s late.
const DefaultLease = 6 * time.Second

// takeoverMargin is what a takeover takes past the etcd lease's expiry: etcd looks for
// expired leases every 500 ms, then the others' watches fire and they take the locks.
// The etcd lease is granted this much shorter than --lease, so the takeover as an
// operator sees it, from the instance's death, ends within --lease.
const takeoverMargin = time.Second

// MinLease is the shortest --lease: etcd counts leases in whole seconds and raises a
// lease under about 1.5 s (its election timeout) to that.
const MinLease = 3 * time.Second

// etcdTTL is the etcd lease's time to live for lease, in whole seconds (at least 2:
// Start refuses a lease under MinLease).
func etcdTTL(lease time.Duration) time.Duration {
	return (lease - takeoverMargin).Truncate(time.Second)
}

// Config is one instance's part in the cluster.
type Config struct {
	Client *clientv3.Client
	// Prefix is the state's etcd prefix; the cluster's keys live under Prefix+"cluster/".
	Prefix string
	// Instance names this instance (unique in the cluster: the host name by default).
	Instance string
	// Lease is the time within which the others take over this instance's networks and
	// nodes once it is gone (default DefaultLease, at least MinLease).
	Lease time.Duration
	// Nodes lists the nodes to share out (the inventory in force).
	Nodes func() []string
	// Every is how often ownership is looked at (default Lease/5).
	Every time.Duration
	Log   *slog.Logger
}

// Member is this instance in the cluster.
type Member struct {
	cfg  Config
	cli  *clientv3.Client
	base string
	log  *slog.Logger

	mu       sync.Mutex
	ttl      time.Duration // the etcd lease's time to live, as etcd granted it
	session  *concurrency.Session
	lastAck  time.Time        // when the lease's latest answered renewal was sent
	nodes    map[string]int64 // node → create revision of its lock, held by this instance
	networks map[string]bool  // networks this instance answers DHCP on
	changed  chan struct{}    // closed and replaced when the session changes
}

// Start registers the instance (its lease) and returns the member; Run keeps it.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.Client == nil {
		return nil, errors.New("cluster: no etcd client")
	}
	if cfg.Instance == "" || strings.ContainsAny(cfg.Instance, "/ \t\n") {
		return nil, fmt.Errorf("cluster: instance name %q: give a name without spaces or slashes (--instance)", cfg.Instance)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Lease < MinLease {
		return nil, fmt.Errorf("cluster: --lease %s: at least %s (etcd counts leases in whole seconds, and a takeover needs about a second past the lease's expiry)", cfg.Lease, MinLease)
	}
	if cfg.Every <= 0 {
		cfg.Every = cfg.Lease / 5
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Nodes == nil {
		cfg.Nodes = func() []string { return nil }
	}
	p := cfg.Prefix
	if p == "" {
		p = state.DefaultEtcdPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	m := &Member{cfg: cfg, cli: cfg.Client, base: p + "cluster/", log: cfg.Log,
		nodes: map[string]int64{}, networks: map[string]bool{}, changed: make(chan struct{})}
	if err := m.newSession(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Instance is this instance's name.
func (m *Member) Instance() string { return m.cfg.Instance }

func (m *Member) instanceKey(name string) string { return m.base + "instances/" + name }

// NodeKey is node's lock.
func (m *Member) NodeKey(node string) string { return m.base + "nodes/" + url.PathEscape(node) }

func (m *Member) networkPrefix(network string) string {
	return m.base + "networks/" + url.PathEscape(network)
}

// newSession takes a new lease, keeps it alive (keepFresh) and registers the
// instance on it.
func (m *Member) newSession(ctx context.Context) error {
	want := etcdTTL(m.cfg.Lease)
	asked := time.Now() // the lease runs at least ttl from here
	grant, err := m.cli.Grant(ctx, int64(want/time.Second))
	if err != nil {
		return fmt.Errorf("cluster: lease for instance %s: %w", m.cfg.Instance, err)
	}
	// etcd raises a lease to its minimum (1.5 election timeouts, whole seconds).
	ttl := time.Duration(grant.TTL) * time.Second
	if ttl > want {
		m.log.Warn("cluster: etcd granted a longer lease than asked (its minimum, from its --election-timeout): takeovers take longer than --lease", "instance", m.cfg.Instance, "lease", m.cfg.Lease, "etcd_ttl", ttl, "asked_ttl", want)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	// The session uses the lease (elections) and keeps it alive at a third of its time;
	// keepFresh below renews it more often and records when.
	s, err := concurrency.NewSession(m.cli, concurrency.WithLease(grant.ID), concurrency.WithContext(kctx))
	if err != nil {
		kcancel()
		return fmt.Errorf("cluster: session for instance %s: %w", m.cfg.Instance, err)
	}
	if _, err := m.cli.Put(ctx, m.instanceKey(m.cfg.Instance), time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(grant.ID)); err != nil {
		kcancel()
		return fmt.Errorf("cluster: register instance %s: %w", m.cfg.Instance, err)
	}
	m.mu.Lock()
	m.session, m.lastAck, m.ttl = s, asked, ttl
	m.mu.Unlock()
	go m.keepFresh(kctx, kcancel, s, grant.ID, ttl)
	return nil
}

// keepFresh renews the lease every sixth of its time and records when each answered
// renewal was sent: the lease runs at least that long from then, so a renewal answered
// late still counts from when it was asked, and one answer delayed by a loaded etcd
// does not make the lease look stale while the next ones are on their way.
func (m *Member) keepFresh(ctx context.Context, cancel context.CancelFunc, s *concurrency.Session, lease clientv3.LeaseID, ttl time.Duration) {
	defer cancel()
	t := time.NewTicker(ttl / 6)
	defer t.Stop()
	for {
		sent := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, ttl/2)
		_, err := m.cli.KeepAliveOnce(rctx, lease)
		rcancel()
		switch {
		case err == nil:
			m.mu.Lock()
			if sent.After(m.lastAck) {
				m.lastAck = sent
			}
			m.mu.Unlock()
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			m.lost("the lease expired")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Done():
			m.lost("the session ended")
			return
		case <-t.C:
		}
	}
}

// lost forgets every network and node: the lease is gone (expired while this instance
// was paused or cut off, or revoked), and with it every lock taken on it.
func (m *Member) lost(why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.nodes) > 0 || len(m.networks) > 0 {
		m.log.Warn("cluster: lease lost: this instance holds no network and no node until it has a new lease", "instance", m.cfg.Instance, "why", why, "nodes", len(m.nodes), "networks", len(m.networks))
	}
	m.nodes, m.networks = map[string]int64{}, map[string]bool{}
	m.session = nil
	close(m.changed)
	m.changed = make(chan struct{})
}

// fresh reports whether the lease has been renewed recently enough to still be held:
// an instance that was paused past its lease knows at once when it resumes, before its
// keep-alive has been answered, that its locks may be someone else's now.
func (m *Member) freshLocked() bool {
	return m.session != nil && time.Since(m.lastAck) < m.ttl*2/3
}

// Holds returns the fence of node's lock when this instance holds it.
func (m *Member) Holds(node string) (state.Fenced, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rev, ok := m.nodes[node]
	if !ok || !m.freshLocked() {
		return state.Fenced{}, false
	}
	return state.Fenced{Key: m.NodeKey(node), Rev: rev}, true
}

// Held lists the nodes this instance holds, sorted (none while its lease is stale).
func (m *Member) Held() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.freshLocked() {
		return nil
	}
	out := make([]string, 0, len(m.nodes))
	for n := range m.nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// HoldsNetwork reports whether this instance answers DHCP on network.
func (m *Member) HoldsNetwork(network string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.networks[network] && m.freshLocked()
}

// Confirm reads node's lock back from etcd (a linearizable read) and succeeds only if
// this instance still holds it at the revision it took it: the last check before a BMC
// call.
func (m *Member) Confirm(ctx context.Context, node string) error {
	f, ok := m.Holds(node)
	if !ok {
		return fmt.Errorf("node %s: %w", node, ErrNotHolder)
	}
	resp, err := m.cli.Get(ctx, f.Key)
	if err != nil {
		return fmt.Errorf("node %s: reading its lock: %w", node, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != f.Rev {
		m.forget(node, f.Rev)
		return fmt.Errorf("node %s: %w (its lock was taken over)", node, ErrNotHolder)
	}
	return nil
}

// forget drops node from this instance's holdings if it still has it at rev (its lock
// was found taken over).
func (m *Member) forget(node string, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes[node] == rev {
		delete(m.nodes, node)
	}
}

// ErrNotHolder: this instance does not hold the node, so it neither records a power
// action for it nor calls its BMC.
var ErrNotHolder = fmt.Errorf("this instance does not hold the node: %w", lifecycle.ErrDrivenElsewhere)

// Run keeps the lease (a new one after it was lost) and shares out the nodes until ctx
// ends; then it gives up the lease, so the others take over at once.
func (m *Member) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Every)
	defer t.Stop()
	moved := m.watchMoves(ctx)
	for {
		m.mu.Lock()
		s := m.session
		m.mu.Unlock()
		if s == nil {
			if err := m.newSession(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				m.log.Warn("cluster: no lease yet", "err", err)
			}
		} else if err := m.balance(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("cluster: sharing out nodes", "err", err)
		}
		select {
		case <-ctx.Done():
			m.Close()
			return nil
		case <-t.C:
		case <-moved:
		}
	}
}

// watchMoves signals (without blocking) each time an instance registers or its lease
// ends, and each time a node's lock is let go (handed over, or expired with its
// instance's lease), so the nodes are shared out again at once rather than at the next
// look: a dead instance's nodes are taken over as soon as etcd expires its lease.
func (m *Member) watchMoves(ctx context.Context) <-chan struct{} {
	kick := make(chan struct{}, 1)
	watch := func(prefix string, opts ...clientv3.OpOption) {
		opts = append(opts, clientv3.WithPrefix())
		for ctx.Err() == nil {
			for range m.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, opts...) {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
			select { // the watch ended (etcd lost its leader): watch again after a look
			case <-ctx.Done():
			case <-time.After(m.cfg.Every):
			}
		}
	}
	go watch(m.base + "instances/")
	go watch(m.base+"nodes/", clientv3.WithFilterPut())
	return kick
}

// Close revokes the lease: this instance's networks and nodes are free at once.
func (m *Member) Close() {
	m.mu.Lock()
	s := m.session
	m.mu.Unlock()
	if s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.cli.Revoke(ctx, s.Lease())
		s.Close()
	}
	m.lost("closed")
}

// owner is the live instance node hashes highest with (rendezvous hashing).
func owner(node string, live []string) string {
	var best string
	var bestH uint64
	for _, inst := range live {
		sum := sha256.Sum256([]byte(inst + "\x00" + node))
		if h := binary.BigEndian.Uint64(sum[:8]); best == "" || h > bestH {
			best, bestH = inst, h
		}
	}
	return best
}

// acquireBatch bounds the locks one transaction takes (etcd's --max-txn-ops is 128).
const acquireBatch = 50

// balance takes the free nodes that hash to this instance and gives up the ones that
// hash to another live instance.
func (m *Member) balance(ctx context.Context) error {
	m.mu.Lock()
	s := m.session
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	lease := s.Lease()
	inst, err := m.cli.Get(ctx, m.base+"instances/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return err
	}
	var live []string
	for _, kv := range inst.Kvs {
		live = append(live, strings.TrimPrefix(string(kv.Key), m.base+"instances/"))
	}
	if !slices.Contains(live, m.cfg.Instance) {
		return nil // registration not visible yet, or the lease just expired
	}
	held, err := m.cli.Get(ctx, m.base+"nodes/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	owners := map[string]*lockKV{}
	for _, kv := range held.Kvs {
		name, _ := url.PathUnescape(strings.TrimPrefix(string(kv.Key), m.base+"nodes/"))
		owners[name] = &lockKV{holder: string(kv.Value), rev: kv.CreateRevision, lease: clientv3.LeaseID(kv.Lease)}
	}
	var take, give []string
	mine := map[string]int64{}
	for _, node := range m.cfg.Nodes() {
		want := owner(node, live)
		o := owners[node]
		switch {
		case o == nil && want == m.cfg.Instance:
			take = append(take, node)
		case o != nil && o.holder == m.cfg.Instance && o.lease == lease:
			if want != m.cfg.Instance {
				give = append(give, node)
			} else {
				mine[node] = o.rev
			}
		}
	}
	for len(take) > 0 {
		n := min(len(take), acquireBatch)
		got, err := m.acquire(ctx, take[:n], lease)
		if err != nil {
			return err
		}
		for node, rev := range got {
			mine[node] = rev
		}
		take = take[n:]
	}
	for _, node := range give {
		// Only the lock this instance holds: if another took it meanwhile, leave it.
		o := owners[node]
		if _, err := m.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(m.NodeKey(node)), "=", o.rev)).
			Then(clientv3.OpDelete(m.NodeKey(node))).Commit(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	if m.session == s {
		m.nodes = mine
	}
	m.mu.Unlock()
	if len(give) > 0 {
		m.log.Info("cluster: nodes handed over to the instances they hash to", "instance", m.cfg.Instance, "nodes", len(give))
	}
	return nil
}

type lockKV struct {
	holder string
	rev    int64
	lease  clientv3.LeaseID
}

// acquire takes the locks of nodes that are still free, all in one transaction when it
// can, one by one when another instance took some meanwhile.
func (m *Member) acquire(ctx context.Context, nodes []string, lease clientv3.LeaseID) (map[string]int64, error) {
	got := map[string]int64{}
	var cmps []clientv3.Cmp
	var puts []clientv3.Op
	for _, node := range nodes {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(m.NodeKey(node)), "=", 0))
		puts = append(puts, clientv3.OpPut(m.NodeKey(node), m.cfg.Instance, clientv3.WithLease(lease)))
	}
	resp, err := m.cli.Txn(ctx).If(cmps...).Then(puts...).Commit()
	if err != nil {
		return nil, err
	}
	if resp.Succeeded {
		for _, node := range nodes {
			got[node] = resp.Header.Revision
		}
		return got, nil
	}
	for i, node := range nodes {
		r, err := m.cli.Txn(ctx).If(cmps[i]).Then(puts[i]).Commit()
		if err != nil {
			return nil, err
		}
		if r.Succeeded {
			got[node] = r.Header.Revision
		}
	}
	return got, nil
}

// Lead campaigns for network and returns once this instance answers DHCP on it; the
// channel returned closes when it no longer does (its lease was lost). It returns
// ctx's error when ctx ends first.
func (m *Member) Lead(ctx context.Context, network string) (<-chan struct{}, error) {
	for {
		m.mu.Lock()
		s, changed := m.session, m.changed
		m.mu.Unlock()
		if s == nil {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(m.cfg.Every):
				continue
			}
		}
		e := concurrency.NewElection(s, m.networkPrefix(network))
		cctx, cancel := context.WithCancel(ctx)
		go func() { // a lost session ends the campaign too
			select {
			case <-changed:
			case <-cctx.Done():
			}
			cancel()
		}()
		err := e.Campaign(cctx, m.cfg.Instance)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // the session changed: campaign on the new one
		}
		m.mu.Lock()
		if m.changed != changed {
			m.mu.Unlock()
			cancel()
			continue
		}
		m.networks[network] = true
		m.mu.Unlock()
		m.log.Info("cluster: this instance answers DHCP on the network", "instance", m.cfg.Instance, "network", network)
		lost := make(chan struct{})
		go func() {
			defer cancel()
			select {
			case <-changed:
			case <-ctx.Done():
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				e.Resign(rctx)
				rcancel()
				m.mu.Lock()
				delete(m.networks, network)
				m.mu.Unlock()
			}
			close(lost)
		}()
		return lost, nil
	}
}

// Holders is who holds what: each network's DHCP instance and each node's lifecycle
// instance, read from etcd (provision status).
type Holders struct {
	Instances []string          `json:"instances"`
	Networks  map[string]string `json:"networks"`
	Nodes     map[string]string `json:"nodes"`
}

// ReadHolders reads the holders under prefix.
func ReadHolders(ctx context.Context, cli *clientv3.Client, prefix string) (Holders, error) {
	if prefix == "" {
		prefix = state.DefaultEtcdPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	base := prefix + "cluster/"
	h := Holders{Networks: map[string]string{}, Nodes: map[string]string{}}
	resp, err := cli.Get(ctx, base, clientv3.WithPrefix())
	if err != nil {
		return h, fmt.Errorf("cluster: reading holders under %s: %w", base, err)
	}
	// An election's leader is its key with the lowest create revision.
	leaderRev := map[string]int64{}
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), base)
		switch {
		case strings.HasPrefix(k, "instances/"):
			h.Instances = append(h.Instances, strings.TrimPrefix(k, "instances/"))
		case strings.HasPrefix(k, "nodes/"):
			name, _ := url.PathUnescape(strings.TrimPrefix(k, "nodes/"))
			h.Nodes[name] = string(kv.Value)
		case strings.HasPrefix(k, "networks/"):
			esc, _, _ := strings.Cut(strings.TrimPrefix(k, "networks/"), "/")
			name, _ := url.PathUnescape(esc)
			if r, ok := leaderRev[name]; !ok || kv.CreateRevision < r {
				leaderRev[name] = kv.CreateRevision
				h.Networks[name] = string(kv.Value)
			}
		}
	}
	return h, nil
}

// WriteText prints which instance answers DHCP on each network and which drives each of
// nodes (all held nodes when nodes is nil), for provision status.
func (h Holders) WriteText(w io.Writer, nodes []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\ninstances (etcd): %s\n", strings.Join(h.Instances, ", "))
	nets := slices.Sorted(maps.Keys(h.Networks))
	for _, n := range nets {
		fmt.Fprintf(tw, "network %s\tDHCP answered by %s\n", n, h.Networks[n])
	}
	if nodes == nil {
		nodes = slices.Sorted(maps.Keys(h.Nodes))
	}
	fmt.Fprintln(tw, "NODE\tDRIVEN BY")
	for _, n := range nodes {
		holder := h.Nodes[n]
		if holder == "" {
			holder = "(no instance: taken over within the lease time)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", n, holder)
	}
	return tw.Flush()
}
