package state

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// populated writes a state of a few hundred events over several pages and closes it.
func populated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 300 {
		node := []string{"gpu-01", "gpu-02", "gpu-03"}[i%3]
		if _, err := s.Update(node, func(n *Node) ([]Event, error) {
			n.Attempt++
			return []Event{{Kind: "dhcp.ack", Detail: strings.Repeat("d", 200)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// leafPage is the id of a leaf page in the middle of the file (an events page).
func leafPage(t *testing.T, path string) (id int, pageSize int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var leaves []int
	db.View(func(tx *bolt.Tx) error {
		for i := 2; ; i++ {
			p, err := tx.Page(i)
			if err != nil || p == nil {
				break
			}
			if p.Type == "leaf" {
				leaves = append(leaves, i)
			}
		}
		return nil
	})
	if len(leaves) < 3 {
		t.Fatalf("only %d leaf pages", len(leaves))
	}
	return leaves[len(leaves)/2], db.Info().PageSize
}

// Issue 14 item 2: each kind of damage is named, with the file and what to do, never a
// panic, a fault or a silent fresh start, whether serve (writable, checked) or the CLI
// (read-only) opens it.
func TestDamagedStoreNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		cause  string
	}{
		{name: "zero-length", damage: func(t *testing.T, path string) { must(t, os.Truncate(path, 0)) }, cause: "zero-length"},
		{name: "truncated to 8 KiB", damage: func(t *testing.T, path string) { must(t, os.Truncate(path, 8<<10)) }, cause: "truncated"},
		{name: "truncated to half", damage: func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.Truncate(path, fi.Size()/2))
		}, cause: "truncated"},
		{name: "bad meta", damage: func(t *testing.T, path string) {
			_, ps := leafPage(t, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			for _, off := range []int64{16, int64(ps) + 16} { // both metas' magic
				_, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, off)
				must(t, err)
			}
		}, cause: "bad meta"},
		{name: "corrupted page", damage: func(t *testing.T, path string) {
			id, ps := leafPage(t, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			junk := make([]byte, ps)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range junk {
				junk[i] = byte(r.UintN(256))
			}
			_, err = f.WriteAt(junk, int64(id*ps))
			must(t, err)
		}, cause: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := populated(t)
			path := filepath.Join(dir, FileName)
			tc.damage(t, path)
			before, _ := os.ReadFile(path)

			check := func(who string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error on a damaged state", who)
				}
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore from backup or move it aside") {
					t.Errorf("%s: %v\nwant ErrDamaged naming %s and the fix", who, err, path)
				}
				if !strings.Contains(err.Error(), tc.cause) {
					t.Errorf("%s: %v\nwant the cause %q", who, err, tc.cause)
				}
			}
			// serve: writable with the consistency check.
			s, err := Open(dir, Options{Check: true})
			if s != nil {
				s.Close()
			}
			check("serve open", err)
			// The CLI: read-only, no check at open; then the reads a status and events do.
			s, err = Open(dir, Options{ReadOnly: true})
			if err == nil {
				_, err1 := s.List()
				_, err2 := s.Events(Query{})
				err = errors.Join(err1, err2)
				s.Close()
			}
			check("read-only", err)
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("opening the damaged file changed it")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A healthy store passes the check, and a backup taken while it is open is a whole store.
func TestBackupAndCheck(t *testing.T) {
	t.Parallel()
	dir := populated(t)
	s, err := Open(dir, Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bdir := t.TempDir()
	f, err := os.Create(filepath.Join(bdir, FileName))
	must(t, err)
	if _, err := s.WriteBackup(f); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
	b, err := Open(bdir, Options{ReadOnly: true, Check: true})
	if err != nil {
		t.Fatalf("backup does not open clean: %v", err)
	}
	defer b.Close()
	evs, err := b.Events(Query{})
	if err != nil || len(evs) != 300 {
		t.Fatalf("backup holds %d events (%v), want 300", len(evs), err)
	}
}
