package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// testLease: the labetcd cluster's least lease is 3 s (1.5 election timeouts), and
// etcdTTL asks for a second less than the lease.
const testLease = 4 * time.Second

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("node-%03d", i))
	}
	return out
}

// instance is one member with its own client: closing the client is a crash (the lease
// is no longer kept alive, nothing is revoked).
type instance struct {
	m      *Member
	cli    *clientv3.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// lookEvery is how often the test instances look at ownership unprompted: often, so
// tests do not wait on it, except where a test shows a takeover needs no look.
const lookEvery = 200 * time.Millisecond

func startInstance(t *testing.T, c *labetcd.Cluster, name string, nodes []string) *instance {
	return startInstanceEvery(t, c, name, nodes, lookEvery)
}

func startInstanceEvery(t *testing.T, c *labetcd.Cluster, name string, nodes []string, every time.Duration) *instance {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(context.Background(), Config{Client: cli, Prefix: "/t/", Instance: name, Lease: testLease,
		Nodes: func() []string { return nodes }, Every: every})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{m: m, cli: cli, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(in.done); m.Run(ctx) }()
	t.Cleanup(in.crash)
	return in
}

// crash stops the instance without giving anything up.
func (in *instance) crash() {
	in.cli.Close()
	in.cancel()
	<-in.done
}

// waitFor polls cond until it holds or a minute passes (a loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < time.Minute {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute", what)
	return 0
}

// exactlyOnce reports whether every node is held by exactly one of ins.
func exactlyOnce(nodes []string, ins ...*instance) bool {
	for _, n := range nodes {
		held := 0
		for _, in := range ins {
			if _, ok := in.m.Holds(n); ok {
				held++
			}
		}
		if held != 1 {
			return false
		}
	}
	return true
}

// TestNodesSharedAndTakenOver: three instances share the nodes out, each node held by
// exactly one; when one crashes (its lease left to expire) the other two hold all of
// them within the lease, and holders read from etcd agree. The instances never look
// unprompted during the test: instances coming and going alone move the nodes.
func TestNodesSharedAndTakenOver(t *testing.T) {
	testenv.Slow(t)
	c := labetcd.Start(t, 3)
	nodes := names(60)
	start := func(name string) *instance { return startInstanceEvery(t, c, name, nodes, time.Hour) }
	a, b, cc := start("a"), start("b"), start("c")
	count := func(in *instance) int {
		n := 0
		for _, node := range nodes {
			if _, ok := in.m.Holds(node); ok {
				n++
			}
		}
		return n
	}
	// The first to start takes everything; the nodes that hash to the others move to them.
	waitFor(t, "every node held once, by each of three instances its share", func() bool {
		return exactlyOnce(nodes, a, b, cc) && count(a) > 0 && count(b) > 0 && count(cc) > 0
	})
	t.Logf("shares: a=%d b=%d c=%d", count(a), count(b), count(cc))
	aHeld := count(a)
	a.crash()
	took := waitFor(t, "every node held once by the two left", func() bool { return exactlyOnce(nodes, b, cc) })
	t.Logf("%d nodes of the crashed instance taken over %v after the crash (lease %v)", aHeld, took, testLease)
	if took > testLease {
		t.Errorf("the crashed instance's nodes were taken over %v after the crash, want within the lease %v", took, testLease)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	h, err := ReadHolders(context.Background(), cli, "/t/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		in := map[string]*instance{"b": b, "c": cc}[h.Nodes[n]]
		if in == nil {
			t.Fatalf("etcd says %s is held by %q", n, h.Nodes[n])
		}
		if _, ok := in.m.Holds(n); !ok {
			t.Errorf("etcd says %s is held by %s, which does not think so", n, h.Nodes[n])
		}
	}
}

// TestOneDHCPInstancePerNetwork: of three instances campaigning for a network exactly one
// leads; when it crashes another leads.
func TestOneDHCPInstancePerNetwork(t *testing.T) {
	testenv.Slow(t)
	c := labetcd.Start(t, 3)
	ins := []*instance{startInstance(t, c, "a", nil), startInstance(t, c, "b", nil), startInstance(t, c, "c", nil)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var leading atomic.Int32
	leaders := make(chan int, 3)
	for i, in := range ins {
		go func() {
			for ctx.Err() == nil {
				lost, err := in.m.Lead(ctx, "prov-b")
				if err != nil {
					return
				}
				leading.Add(1)
				leaders <- i
				select {
				case <-lost:
				case <-ctx.Done():
				}
				leading.Add(-1)
			}
		}()
	}
	first := <-leaders
	time.Sleep(2 * testLease) // long enough for a second leader to show up if the election were broken
	if n := leading.Load(); n != 1 {
		t.Fatalf("%d instances answer DHCP on one network", n)
	}
	for i, in := range ins {
		if got := in.m.HoldsNetwork("prov-b"); got != (i == first) {
			t.Errorf("instance %d HoldsNetwork = %v, leader is %d", i, got, first)
		}
	}
	ins[first].crash()
	start := time.Now()
	select {
	case next := <-leaders:
		if next == first {
			t.Fatal("the crashed instance leads again")
		}
		took := time.Since(start)
		t.Logf("instance %d took the network over %v after the leader crashed (lease %v)", next, took, testLease)
		if took > testLease {
			t.Errorf("the network was taken over %v after its leader crashed, want within the lease %v", took, testLease)
		}
	case <-time.After(time.Minute):
		t.Fatal("no instance took the network over")
	}
}

type countingPower struct{ calls atomic.Int32 }

func (p *countingPower) PXECycle(context.Context, lifecycle.Target) error {
	p.calls.Add(1)
	return nil
}

// TestLostNodeGetsNoPowerAction: an instance whose lease was taken from it (expired
// while it was cut off, another instance holding its nodes now) records no power intent
// for them and calls no BMC, though it still believed it held them when it started.
func TestLostNodeGetsNoPowerAction(t *testing.T) {
	testenv.Slow(t)
	c := labetcd.Start(t, 3)
	nodes := names(20)
	a := startInstance(t, c, "a", nodes)
	waitFor(t, "a holds every node", func() bool { return exactlyOnce(nodes, a) })
	fences := map[string]state.Fenced{}
	for _, n := range nodes {
		fences[n], _ = a.m.Holds(n)
	}
	st, err := state.OpenEtcd(state.EtcdConfig{Client: a.cli, Prefix: "/t/"}, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owned := a.m.Owned(st)
	power := &countingPower{}
	fenced := a.m.Power(power)
	// The lease ends under a (as when it was paused past it), b takes the nodes.
	admin, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	a.m.mu.Lock()
	lease := a.m.session.Lease()
	a.m.mu.Unlock()
	if _, err := admin.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	b := startInstance(t, c, "b", nodes)
	waitFor(t, "b holds every node", func() bool { return exactlyOnce(nodes, b) })

	intent := func(n *state.Node) ([]state.Event, error) {
		n.Power = state.PowerRecord{Run: 1, Attempt: 1, IssuedAt: time.Now()}
		return []state.Event{{Kind: "power.issued"}}, nil
	}
	for _, n := range nodes {
		// Whether a still believes it holds n or has noticed: no intent is written...
		if _, err := owned.Update(n, intent); err == nil {
			t.Fatalf("a recorded a power intent for %s, which b holds", n)
		}
		// ...not even with the fence a had (its lock was taken over).
		if _, err := st.UpdateFenced(n, []state.Fenced{fences[n]}, intent); !errors.Is(err, state.ErrFenced) {
			t.Fatalf("a write fenced by a's old lock of %s = %v, want ErrFenced", n, err)
		}
		// ...and no BMC call is made.
		if err := fenced.PXECycle(context.Background(), lifecycle.Target{Name: n}); !errors.Is(err, ErrNotHolder) {
			t.Fatalf("a's BMC call for %s = %v, want ErrNotHolder", n, err)
		}
	}
	if got := power.calls.Load(); got != 0 {
		t.Errorf("a made %d BMC calls for nodes b holds", got)
	}
	if ns, err := st.List(); err != nil || len(ns) != 0 {
		t.Errorf("nodes written: %d (%v), want none", len(ns), err)
	}
	// What any instance may write (a DHCP or agent event, up) still goes through.
	if _, err := owned.Update(nodes[1], func(n *state.Node) ([]state.Event, error) {
		n.Phase = "pxe"
		return []state.Event{{Kind: "dhcp.ack"}}, nil
	}); err != nil {
		t.Errorf("a's event for %s, which it no longer holds: %v", nodes[1], err)
	}
	// b, holding them, records intents and calls.
	bst, err := state.OpenEtcd(state.EtcdConfig{Client: b.cli, Prefix: "/t/"}, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Owned(bst).Update(nodes[0], intent); err != nil {
		t.Errorf("b, holding %s, could not record its power intent: %v", nodes[0], err)
	}
	if err := b.m.Power(power).PXECycle(context.Background(), lifecycle.Target{Name: nodes[0]}); err != nil || power.calls.Load() != 1 {
		t.Errorf("b's BMC call for %s = %v, %d calls", nodes[0], err, power.calls.Load())
	}
}

// TestEtcdTTLLeavesTheTakeoverMargin: the etcd lease is whole seconds, at least two
// from the least lease Start takes, and short enough of --lease for the takeover to finish within it.
func TestEtcdTTLLeavesTheTakeoverMargin(t *testing.T) {
	for _, tc := range []struct {
		lease, want time.Duration
	}{
		{lease: 3 * time.Second, want: 2 * time.Second},
		{lease: 6 * time.Second, want: 5 * time.Second},
		{lease: 6500 * time.Millisecond, want: 5 * time.Second},
		{lease: 10 * time.Second, want: 9 * time.Second},
	} {
		t.Run(tc.lease.String(), func(t *testing.T) {
			got := etcdTTL(tc.lease)
			if got != tc.want {
				t.Errorf("etcdTTL(%v) = %v, want %v", tc.lease, got, tc.want)
			}
			if got+takeoverMargin > tc.lease {
				t.Errorf("etcdTTL(%v) = %v leaves less than %v for the takeover", tc.lease, got, takeoverMargin)
			}
		})
	}
	if _, err := Start(context.Background(), Config{Client: &clientv3.Client{}, Instance: "a", Lease: MinLease - time.Second}); err == nil || !strings.Contains(err.Error(), "--lease 2s") {
		t.Errorf("Start with a 2s lease: %v, want an error naming --lease 2s", err)
	}
}
