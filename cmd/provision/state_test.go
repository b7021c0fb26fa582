package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

// middleLeaf is the byte offset and size of a leaf page in the middle of a bbolt file.
func middleLeaf(t *testing.T, path string) (int64, int) {
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
				return nil
			}
			if p.Type == "leaf" {
				leaves = append(leaves, i)
			}
		}
	})
	if len(leaves) == 0 {
		t.Fatal("no leaf page")
	}
	ps := db.Info().PageSize
	return int64(leaves[len(leaves)/2] * ps), ps
}

// Issue 14 item 2, as the operator sees it: every damage case gives one line naming the
// file and what to do, and a non-zero exit, from the read-only commands, `state check`
// and serve's core; never a stack trace or a silent fresh start.
func TestDamagedStateNamed(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, path string, off int64, b []byte) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{name: "zero-length", damage: func(t *testing.T, path string) { os.Truncate(path, 0) }},
		{name: "truncated to 8 KiB", damage: func(t *testing.T, path string) { os.Truncate(path, 8<<10) }},
		{name: "truncated to half", damage: func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}},
		{name: "bad meta", damage: func(t *testing.T, path string) {
			write(t, path, 16, []byte{1, 2, 3, 4})
			write(t, path, 4096+16, []byte{1, 2, 3, 4})
		}},
		{name: "corrupted page", damage: func(t *testing.T, path string) {
			off, ps := middleLeaf(t, path)
			junk := make([]byte, ps)
			r := rand.New(rand.NewPCG(3, 4))
			for i := range junk {
				junk[i] = byte(r.UintN(256))
			}
			write(t, path, off, junk)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := seedState(t, dir)
			for range 40 { // several pages of events
				s.Update("gpu-a01-01", func(n *state.Node) ([]state.Event, error) {
					return []state.Event{{Kind: "dhcp.ack", Detail: strings.Repeat("x", 300)}}, nil
				})
			}
			s.Close()
			path := filepath.Join(dir, state.FileName)
			tc.damage(t, path)

			for _, args := range [][]string{
				{"status"}, {"events"}, {"report", "gpu-a01-01"}, {"state", "check"}, {"state", "backup", filepath.Join(t.TempDir(), "b.db")},
			} {
				out, errOut, code := runCLI(t, append(args, "--state-dir", dir)...)
				all := out + errOut
				if code == 0 {
					t.Errorf("provision %s on a damaged state: exit 0\n%s", args[0], all)
				}
				if !strings.Contains(all, "state.db is damaged") || !strings.Contains(all, path) || !strings.Contains(all, "restore from backup or move it aside") {
					t.Errorf("provision %s: want the damage named with %s and the fix:\n%s", strings.Join(args, " "), path, all)
				}
				if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic:") {
					t.Errorf("provision %s printed a stack trace:\n%s", args[0], all)
				}
			}
			// serve's core refuses to start on it.
			c, err := provisioner.Open(provisioner.Config{StateDir: dir})
			if err == nil {
				c.Close()
				t.Fatal("serve's core opened a damaged state")
			}
			if !strings.Contains(err.Error(), "state.db is damaged") || !strings.Contains(err.Error(), path) {
				t.Errorf("serve's core: %v", err)
			}
		})
	}
}

// state backup writes a file that state check passes, and the rolling backups are checked.
func TestStateBackupAndCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := seedState(t, dir)
	if _, err := s.RollBackup(dir, 3, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	file := filepath.Join(t.TempDir(), "backup.db")
	out, errOut, code := runCLI(t, "state", "backup", file, "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "passes the consistency check") {
		t.Fatalf("state backup: %d\n%s%s", code, out, errOut)
	}
	b, err := state.Open(filepath.Dir(file), state.Options{ReadOnly: true})
	if err == nil {
		b.Close() // named backup.db, not state.db: Open must not find it
		t.Fatal("unexpected state.db beside the backup")
	}
	if err := state.CheckFile(file); err != nil {
		t.Fatalf("the backup does not check: %v", err)
	}
	out, errOut, code = runCLI(t, "state", "check", "--state-dir", dir)
	if code != 0 || strings.Count(out, " ok") < 2 {
		t.Fatalf("state check: %d\n%s%s", code, out, errOut)
	}
	// A damaged backup is named and fails the check.
	bs, _ := state.Backups(dir)
	os.Truncate(bs[0], 100)
	out, errOut, code = runCLI(t, "state", "check", "--state-dir", dir)
	if code == 0 || !strings.Contains(out+errOut, bs[0]) {
		t.Fatalf("state check with a damaged backup: %d\n%s%s", code, out, errOut)
	}
}
