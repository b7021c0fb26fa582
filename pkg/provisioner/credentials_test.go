package provisioner_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

// memStore is a state.Store in memory that keeps records encoded, as bbolt does, and
// counts how many it decodes.
type memStore struct {
	mu      sync.Mutex
	recs    map[string][]byte
	decoded atomic.Int64
	lists   atomic.Int64
}

func (m *memStore) decode(b []byte) state.Node {
	m.decoded.Add(1)
	var n state.Node
	json.Unmarshal(b, &n)
	return n
}

func (m *memStore) Get(name string) (state.Node, error) {
	m.mu.Lock()
	b, ok := m.recs[name]
	m.mu.Unlock()
	if !ok {
		return state.Node{}, state.ErrNotFound
	}
	return m.decode(b), nil
}

func (m *memStore) List() ([]state.Node, error) {
	m.lists.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Node
	for _, b := range m.recs {
		out = append(out, m.decode(b))
	}
	return out, nil
}

func (m *memStore) Update(name string, fn func(n *state.Node) ([]state.Event, error)) ([]state.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := state.Node{Name: name}
	if b, ok := m.recs[name]; ok {
		n = m.decode(b)
	}
	evs, err := fn(&n)
	if err != nil {
		return nil, err
	}
	m.recs[name], _ = json.Marshal(n)
	return evs, nil
}

func (m *memStore) Events(state.Query) ([]state.Event, error) { return nil, nil }
func (m *memStore) LastSeq() (uint64, error)                  { return 0, nil }
func (m *memStore) Wait(ctx context.Context, _ uint64) error  { <-ctx.Done(); return ctx.Err() }
func (m *memStore) Close() error                              { return nil }
func (m *memStore) Retention() (state.Retention, error)       { return state.Retention{}, nil }
func (m *memStore) Check() error                              { return nil }
func (m *memStore) WriteBackup(io.Writer) (int64, error)      { return 0, nil }

// fleet is n nodes, each in pxe with a live bootstrap and a certificate of its run.
func fleet(t testing.TB, n int) (*memStore, *provisioner.Credentials) {
	t.Helper()
	m := &memStore{recs: make(map[string][]byte, n)}
	now := time.Now()
	for i := range n {
		var raw [32]byte
		rand.Read(raw[:])
		sum := sha256.Sum256(raw[:])
		rec := state.Node{Name: fmt.Sprintf("gpu-%05d", i), Phase: "validating", Run: 1, Attempt: 1,
			Token:    &state.Token{Hash: sum[:], MAC: "52:54:00:00:00:01", Run: 1, Attempt: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
			Identity: &state.Identity{Serial: fmt.Sprintf("%032x", i+1), Run: 1, IssuedAt: now, NotAfter: now.Add(time.Hour)},
		}
		m.recs[rec.Name], _ = json.Marshal(rec)
	}
	return m, provisioner.NewCredentials(m, nil, time.Hour, 0)
}

// A wrong credential is refused at the same cost at 10 and 10,000 nodes: one record is
// decoded per refusal whatever the fleet's size (the old token store decoded every node
// to say whose a wrong token was), and the median time of a refusal is within 1.5x.
func TestWrongCredentialCostIndependentOfFleetSize(t *testing.T) {
	t.Parallel()
	sizes := []int{10, 10000}
	stores := map[int]*memStore{}
	creds := map[int]*provisioner.Credentials{}
	for _, n := range sizes {
		stores[n], creds[n] = fleet(t, n)
	}
	_, csrPEM, err := pki.NewKeyAndCSR("gpu-00001")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "d3JvbmctYm9vdHN0cmFwLXNlY3JldC12YWx1ZS0xMjM0NTY3OA"
	refuse := func(n, i int) time.Duration {
		node := fmt.Sprintf("gpu-%05d", (i*7919)%n)
		start := time.Now()
		_, err := creds[n].Exchange(node, wrong, csrPEM, "10.0.0.9:5000")
		d := time.Since(start)
		if !errors.Is(err, api.ErrBadToken) {
			t.Fatalf("%d nodes: wrong bootstrap for %s: %v, want ErrBadToken", n, node, err)
		}
		return d
	}
	// Records decoded per refusal: exactly one, at either size, and no listing.
	for _, n := range sizes {
		before := stores[n].decoded.Load()
		const trials = 200
		for i := range trials {
			refuse(n, i)
		}
		if got := stores[n].decoded.Load() - before; got != trials || stores[n].lists.Load() != 0 {
			t.Fatalf("%d nodes: %d records decoded for %d refusals, %d lists; want one each, no list", n, got, trials, stores[n].lists.Load())
		}
	}
	// Time: batches alternate between the sizes so both see the same load; the medians
	// of many samples are compared, three tries before it counts as a failure.
	var ratio float64
	for try := range 3 {
		samples := map[int][]time.Duration{}
		for batch := range 20 {
			for _, n := range sizes {
				for i := range 250 {
					samples[n] = append(samples[n], refuse(n, batch*250+i))
				}
			}
		}
		med := func(ds []time.Duration) time.Duration {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			return ds[len(ds)/2]
		}
		small, large := med(samples[10]), med(samples[10000])
		ratio = float64(large) / float64(small)
		t.Logf("try %d: median refusal %v at 10 nodes, %v at 10,000 (ratio %.2f)", try+1, small, large, ratio)
		if ratio < 1.5 {
			break
		}
	}
	if ratio >= 1.5 {
		t.Errorf("a refusal at 10,000 nodes takes %.2fx the time at 10: the lookup grows with the fleet", ratio)
	}
}

// A wrong certificate (another serial) is refused reading one record, and says it was
// superseded; the node's own passes.
func TestVerifyReadsOneRecord(t *testing.T) {
	t.Parallel()
	m, c := fleet(t, 1000)
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, csrPEM, _ := pki.NewKeyAndCSR("gpu-00042")
	csr, _ := pki.ParseCSR(csrPEM)
	cert, err := p.IssueClient("gpu-00042", csr.PublicKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before := m.decoded.Load()
	if err := c.Verify("gpu-00042", cert); !errors.Is(err, api.ErrSuperseded) {
		t.Errorf("a certificate of another serial: %v, want ErrSuperseded", err)
	}
	if err := c.Verify("gpu-00043", cert); !errors.Is(err, api.ErrOtherNode) {
		t.Errorf("gpu-00042's certificate for gpu-00043: %v, want ErrOtherNode", err)
	}
	if got := m.decoded.Load() - before; got != 1 || m.lists.Load() != 0 {
		t.Errorf("%d records decoded, %d lists; want 1 and none", got, m.lists.Load())
	}
}
