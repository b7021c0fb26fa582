package state

import (
	"fmt"
	"testing"
)

// TestEtcdReadsInPages: List and Events read in pages of s.page keys, all at the
// revision of the first page (a write between pages is not seen), and stop at a
// query's limit whether it ends inside a page or on its edge.
func TestEtcdReadsInPages(t *testing.T) {
	t.Parallel()
	s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: etcdBackend.fresh(t)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const nodes = 23
	for i := range nodes {
		if _, err := s.Update(fmt.Sprintf("gpu-%02d", i), setPhase("ready", Event{Kind: "dhcp.ack"})); err != nil {
			t.Fatal(err)
		}
	}
	s.page = 5
	seqs := func(evs []Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		q           Query
		first, last uint64
	}{
		{name: "all", q: Query{}, first: 1, last: nodes},
		{name: "limit inside a page", q: Query{Limit: 12}, first: 1, last: 12},
		{name: "limit on a page's edge", q: Query{Limit: 10}, first: 1, last: 10},
		{name: "after and limit", q: Query{After: 3, Limit: 7}, first: 4, last: 10},
		{name: "after, to the end", q: Query{After: 19}, first: 20, last: nodes},
	} {
		evs, err := s.Events(tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := seqs(evs)
		if n := int(tc.last - tc.first + 1); len(got) != n || got[0] != tc.first || got[n-1] != tc.last {
			t.Errorf("%s: events %v, want %d..%d", tc.name, got, tc.first, tc.last)
		}
	}

	// A node written while List is between pages (after the page it would be on) is left
	// out of that List.
	wrote := false
	s.paged = func() {
		if !wrote {
			wrote = true
			if _, err := s.Update("zzz-new", setPhase("ready")); err != nil {
				t.Error(err)
			}
		}
	}
	ns, err := s.List()
	s.paged = nil
	if err != nil {
		t.Fatal(err)
	}
	if !wrote || len(ns) != nodes {
		t.Errorf("List between pages with a write: %d nodes (wrote %v), want the %d of its first page's revision", len(ns), wrote, nodes)
	}
	for i, n := range ns {
		if want := fmt.Sprintf("gpu-%02d", i); n.Name != want {
			t.Fatalf("List[%d] = %s, want %s", i, n.Name, want)
		}
	}
	if ns, err = s.List(); err != nil || len(ns) != nodes+1 {
		t.Errorf("List after the write: %d nodes (%v), want %d", len(ns), err, nodes+1)
	}
}
