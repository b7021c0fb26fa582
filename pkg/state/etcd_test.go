package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	labetcd "github.com/racklift/racklift/internal/lab/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func etcdClient(t *testing.T, c *labetcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestEtcdSchemaMismatch(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	cli := etcdClient(t, sharedEtcd(t))
	if _, err := cli.Put(context.Background(), prefix+"meta/schema", "99"); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := etcdBackend.open(t, prefix, Options{ReadOnly: ro})
		if !errors.Is(err, ErrSchemaMismatch) {
			t.Fatalf("OpenEtcd(readOnly=%v) = %v, want ErrSchemaMismatch", ro, err)
		}
		for _, want := range []string{"version 99", fmt.Sprintf("version %d", SchemaVersion), prefix} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
	// A read-only open of an empty prefix is "no state", and writes nothing.
	empty := etcdBackend.fresh(t)
	if _, err := etcdBackend.open(t, empty, Options{ReadOnly: true}); !errors.Is(err, ErrNoState) {
		t.Errorf("read-only open of an empty prefix = %v, want ErrNoState", err)
	}
	if r, err := cli.Get(context.Background(), empty, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Errorf("read-only open wrote %v keys (%v)", r.Count, err)
	}
}

// everything is what a reader of a state sees: records, the log, per-node logs, marks.
type everything struct {
	Nodes   []Node
	Events  []Event
	PerNode map[string][]Event
	LastSeq uint64
	Dropped uint64
}

func readAll(t *testing.T, s Store) everything {
	t.Helper()
	var e everything
	var err error
	if e.Nodes, err = s.List(); err != nil {
		t.Fatal(err)
	}
	if e.Events, err = s.Events(Query{}); err != nil {
		t.Fatal(err)
	}
	e.PerNode = map[string][]Event{}
	for _, n := range e.Nodes {
		if e.PerNode[n.Name], err = s.Events(Query{Node: n.Name}); err != nil {
			t.Fatal(err)
		}
	}
	if e.LastSeq, err = s.LastSeq(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Retention()
	if err != nil {
		t.Fatal(err)
	}
	e.Dropped = r.DroppedThrough
	return e
}

// TestMigrateBoltToEtcd: `provision state migrate` copies a bbolt state into etcd whole
// (records, the log with its sequence numbers, per-node logs, the retention mark), the
// copy goes on numbering where the file stopped, a second migration into the same
// prefix is refused and changes nothing, and a backup of the etcd state is a bbolt file
// that reads back the same.
func TestMigrateBoltToEtcd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	src, err := Open(dir, Options{MaxEvents: 20, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 45 {
		node := fmt.Sprintf("gpu-%02d", i%4)
		if _, err := src.Update(node, func(n *Node) ([]Event, error) {
			n.Phase, n.Run, n.Attempt = "pxe", 1, i
			n.Token = &Token{Hash: []byte{byte(i)}, MAC: "52:54:00:00:00:01"}
			return []Event{{Kind: "dhcp.ack", Detail: fmt.Sprint(i)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, src)
	if want.Dropped == 0 || len(want.Events) != 20 {
		t.Fatalf("source: %d events, dropped through %d; the test wants a log with drops", len(want.Events), want.Dropped)
	}
	src.Close()
	src, err = Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	prefix := etcdBackend.fresh(t)
	dstS, err := etcdBackend.open(t, prefix, Options{MaxEvents: 20})
	if err != nil {
		t.Fatal(err)
	}
	dst := dstS.(*Etcd)
	defer dst.Close()
	m, err := Migrate(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.Nodes != 4 || m.Events != 20 || m.LastSeq != 45 {
		t.Errorf("Migrate = %+v, want 4 nodes, 20 events, last 45", m)
	}
	if got := readAll(t, dst); !reflect.DeepEqual(got, want) {
		t.Errorf("etcd after migration differs from the file:\n got %+v\nwant %+v", got, want)
	}
	evs, err := dst.Update("gpu-00", setPhase("ready", Event{Kind: "agent.report.pass"}))
	if err != nil || len(evs) != 1 || evs[0].Seq != 46 {
		t.Errorf("first write after migration = %+v, %v; want seq 46", evs, err)
	}
	if err := dst.Check(); err != nil {
		t.Errorf("Check after migration: %v", err)
	}

	before := readAll(t, dst)
	if _, err := Migrate(src, dst); err == nil || !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("second migration into %s = %v, want a refusal naming the prefix", prefix, err)
	}
	if after := readAll(t, dst); !reflect.DeepEqual(after, before) {
		t.Error("a refused migration changed the etcd state")
	}

	// A backup of the etcd state is a bbolt state file holding the same.
	path := filepath.Join(t.TempDir(), "etcd-backup.db")
	if _, err := WriteBackupFile(dst, path); err != nil {
		t.Fatal(err)
	}
	bk, err := OpenFile(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if got := readAll(t, bk); !reflect.DeepEqual(got, before) {
		t.Errorf("backup of the etcd state differs from it:\n got %+v\nwant %+v", got, before)
	}
}

// TestEtcdFencedWrite: a write fenced by a lock commits while the lock's key has the
// revision the writer took it at, and is refused, writing nothing, once another holder
// has taken it (deleted and created again: a new revision), however the writer's fn
// decides.
func TestEtcdFencedWrite(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: prefix}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cli := etcdClient(t, sharedEtcd(t))
	ctx := context.Background()
	lock := prefix + "owners/gpu-01"
	put, err := cli.Put(ctx, lock, "instance-a")
	if err != nil {
		t.Fatal(err)
	}
	mine := Fenced{Key: lock, Rev: put.Header.Revision}
	if _, err := s.UpdateFenced("gpu-01", []Fenced{mine}, setPhase("powering", Event{Kind: "a"})); err != nil {
		t.Fatalf("write under the held lock: %v", err)
	}
	// Instance b takes the node over.
	if _, err := cli.Delete(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, lock, "instance-b"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateFenced("gpu-01", []Fenced{mine}, func(n *Node) ([]Event, error) {
		n.Power = PowerRecord{Run: 1, Attempt: 1, IssuedAt: time.Now()}
		return []Event{{Kind: "power.issued"}}, nil
	})
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "gpu-01") {
		t.Fatalf("write under a lost lock = %v, want ErrFenced naming the node", err)
	}
	n, err := s.Get("gpu-01")
	if err != nil {
		t.Fatal(err)
	}
	if !n.Power.IssuedAt.IsZero() || n.Phase != "powering" || len(n.Recent) != 1 {
		t.Errorf("the refused write changed the node: %+v", n)
	}
	if last, _ := s.LastSeq(); last != 1 {
		t.Errorf("the refused write logged events: last seq %d, want 1", last)
	}
}

// TestEtcdMemberLoss: with one member of three killed nothing visible changes (writes
// and reads go on, nothing acknowledged is lost); with two killed a write is not
// acknowledged (it fails, naming the store) rather than kept in memory; once the
// members are back every acknowledged write is there.
func TestEtcdMemberLoss(t *testing.T) {
	t.Parallel()
	sharedEtcd(t) // skips like the suite when etcd is missing
	c := labetcd.Start(t, 3)
	// Generous while a quorum is up (a new leader is elected on a loaded machine); short
	// for the write that cannot commit.
	s, err := OpenEtcd(EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/loss/", OpTimeout: 2 * time.Minute}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	short, err := OpenEtcd(EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/loss/", OpTimeout: 5 * time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	acked := 0
	write := func(s *Etcd) error {
		_, err := s.Update("gpu-01", func(n *Node) ([]Event, error) {
			n.Attempt++
			return []Event{{Kind: "tick", Detail: fmt.Sprint(n.Attempt)}}, nil
		})
		if err == nil {
			acked++
		}
		return err
	}
	for range 5 {
		if err := write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Kill(0); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := write(s); err != nil {
			t.Fatalf("write %d with one member of three down: %v", i, err)
		}
	}
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	err = write(short)
	if err == nil {
		t.Fatal("a write with two members of three down was acknowledged")
	}
	if !strings.Contains(err.Error(), "etcd") || !strings.Contains(err.Error(), "gpu-01") {
		t.Errorf("the failed write's error %q names neither the store nor the node", err)
	}
	for _, i := range []int{0, 1} {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := s.Get("gpu-01")
	if err != nil {
		t.Fatal(err)
	}
	// The unacknowledged write may or may not have committed; none acknowledged is lost.
	if n.Attempt < acked {
		t.Errorf("after the members came back the node counts %d writes, %d were acknowledged", n.Attempt, acked)
	}
	evs, err := s.Events(Query{Node: "gpu-01"})
	if err != nil || len(evs) != n.Attempt {
		t.Errorf("log holds %d events for %d writes (%v)", len(evs), n.Attempt, err)
	}
}

// TestEtcdGetMany: the records of the named nodes that exist, sorted by name, across
// more than one read transaction; the others are left out.
func TestEtcdGetMany(t *testing.T) {
	t.Parallel()
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: etcdBackend.fresh(t)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ask []string
	for i := range 2*getManyBatch + 10 {
		name := fmt.Sprintf("n/%03d", i) // a slash: keys are escaped
		ask = append(ask, name)
		if i%2 == 0 {
			if _, err := s.Update(name, setPhase("ready")); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Reverse(ask)
	got, err := s.GetMany(append(ask, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != getManyBatch+5 {
		t.Fatalf("GetMany = %d nodes, want %d", len(got), getManyBatch+5)
	}
	for i, n := range got {
		if want := fmt.Sprintf("n/%03d", 2*i); n.Name != want || n.Phase != "ready" {
			t.Fatalf("GetMany[%d] = %s %s, want %s ready", i, n.Name, n.Phase, want)
		}
	}
}
