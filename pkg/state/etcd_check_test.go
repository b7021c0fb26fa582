package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEtcdCheckAndBackup: `provision state check` and serve's backup on etcd: an empty
// state and one read in several pages pass and back up whole; each kind of damage put
// in by hand is named (the first five), and a state of another schema is refused.
func TestEtcdCheckAndBackup(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) *Etcd {
		s, err := OpenEtcd(EtcdConfig{Endpoints: sharedEtcd(t).Endpoints(), Prefix: etcdBackend.fresh(t)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	put := func(t *testing.T, s *Etcd, kv ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := 0; i < len(kv); i += 2 {
			if _, err := s.Client().Put(ctx, s.Prefix()+kv[i], kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// backup writes s's backup and returns how many nodes and events it holds.
	backup := func(t *testing.T, s *Etcd) (nodes, events int) {
		t.Helper()
		var buf bytes.Buffer
		if _, err := s.WriteBackup(&buf); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, FileName), buf.Bytes(), 0o600))
		must(t, CheckFile(filepath.Join(dir, FileName)))
		b, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ns, err1 := b.List()
		evs, err2 := b.Events(Query{})
		must(t, errors.Join(err1, err2))
		return len(ns), len(evs)
	}

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		must(t, s.Check())
		if n, e := backup(t, s); n != 0 || e != 0 {
			t.Errorf("backup of an empty state holds %d nodes, %d events", n, e)
		}
	})
	t.Run("paged", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for i := range 12 {
			if _, err := s.Update(fmt.Sprintf("gpu-%02d", i), setPhase("ready", Event{Kind: "a"})); err != nil {
				t.Fatal(err)
			}
		}
		s.page = 5
		must(t, s.Check())
		if n, e := backup(t, s); n != 12 || e != 12 {
			t.Errorf("backup read in pages of 5 holds %d nodes, %d events; want 12, 12", n, e)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.Update("gpu-01", setPhase("ready", Event{Kind: "a"})); err != nil {
			t.Fatal(err)
		}
		put(t, s,
			"nodes/bad", "not json",
			"nodes/gpu-02", `{"name":"gpu-03"}`,
			"events/"+etcdSeq(7), `{"seq":7,"node":"gpu-01"}`,
			"events/"+etcdSeq(8), `{"seq":9,"node":"gpu-01"}`,
			"events/"+etcdSeq(10), `not json`,
			"events/"+etcdSeq(11), `{"seq":11}`)
		err := s.Check()
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("Check = %v, want ErrDamaged", err)
		}
		msg := err.Error()
		problems := 0
		for _, want := range []string{"node bad:", `node gpu-02: record names "gpu-03"`, "event 7: has sequence number 7 (last 1)",
			"event 8: has sequence number 9", "event 10:", "event 11:"} {
			if strings.Contains(msg, want) {
				problems++
			}
		}
		if problems != 5 || !strings.Contains(msg, s.Where()) {
			t.Errorf("Check named %d of the 6 problems (want the first 5) or not the store:\n%s", problems, msg)
		}
	})
	t.Run("sequence unreadable", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		put(t, s, "meta/seq", "many")
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), "meta/seq") {
			t.Errorf("Check with meta/seq unreadable = %v", err)
		}
	})
	t.Run("other schema", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		put(t, s, "meta/schema", "99")
		if err := s.Check(); !errors.Is(err, ErrSchemaMismatch) {
			t.Errorf("Check of a state of schema 99 = %v, want ErrSchemaMismatch", err)
		}
	})
}
