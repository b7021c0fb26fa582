package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
)

// rewriteMeta changes the meta page at off with edit (given the meta's bytes after the
// page header) and writes its checksum again, as bbolt would have.
func rewriteMeta(t *testing.T, path string, off int64, edit func(m []byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, metaSize)
	_, err = f.ReadAt(b, off+pageHeaderSize)
	must(t, err)
	edit(b)
	h := fnv.New64a()
	h.Write(b[:metaSumOffset])
	binary.LittleEndian.PutUint64(b[metaSumOffset:], h.Sum64())
	_, err = f.WriteAt(b, off+pageHeaderSize)
	must(t, err)
}

// TestPreflightReadsEitherMeta: bbolt keeps two meta pages and opens a file whose one
// meta is whole, using the newest whole one; Preflight agrees, and judges the page size
// and length by that meta. (A preflight looking for the second meta at a page size read
// from a broken first one called such a file damaged.)
func TestPreflightReadsEitherMeta(t *testing.T) {
	t.Parallel()
	ps := int64(os.Getpagesize())
	smash := func(off int64) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			_, err = f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, off+pageHeaderSize)
			must(t, err)
		}
	}
	// newest makes meta 0 the newest, saying the file has one page of size bytes, and
	// makes the file at least that long.
	newest := func(size uint32) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			rewriteMeta(t, path, 0, func(m []byte) {
				binary.LittleEndian.PutUint32(m[8:], size)
				binary.LittleEndian.PutUint64(m[40:], 1)
				binary.LittleEndian.PutUint64(m[48:], 1<<40)
			})
			if fi, err := os.Stat(path); err == nil && fi.Size() < int64(size) {
				must(t, os.Truncate(path, int64(size)))
			}
		}
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		damaged bool
	}{
		{name: "first meta broken", damage: smash(0)},
		{name: "second meta broken", damage: smash(ps)},
		{name: "page size 511", damage: newest(511), damaged: true},
		{name: "page size 512", damage: newest(512)},
		{name: "page size 1 MiB", damage: newest(1 << 20)},
		{name: "page size past 1 MiB", damage: newest(1<<20 + 1), damaged: true},
		{name: "newest meta says longer than the file", damage: func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			must(t, err)
			rewriteMeta(t, path, ps, func(m []byte) {
				binary.LittleEndian.PutUint64(m[40:], uint64(fi.Size()/ps+1))
				binary.LittleEndian.PutUint64(m[48:], 1<<40)
			})
		}, damaged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(populated(t), FileName)
			tc.damage(t, path)
			err := Preflight(path)
			if got := errors.Is(err, ErrDamaged); got != tc.damaged {
				t.Errorf("Preflight = %v; want damaged %v", err, tc.damaged)
			}
		})
	}
}

// TestFirstErrors: the check's message keeps the first five problems, and the check is
// drained to its end (an undrained channel would leave bbolt's checker blocked).
func TestFirstErrors(t *testing.T) {
	t.Parallel()
	ch := make(chan error, 7)
	for i := range 7 {
		ch <- fmt.Errorf("page %d: unreachable", i)
	}
	close(ch)
	errs := firstErrors(ch, 5)
	if len(errs) != 5 || errs[0].Error() != "page 0: unreachable" || errs[4].Error() != "page 4: unreachable" {
		t.Errorf("firstErrors kept %v, want pages 0 to 4", errs)
	}
	if len(ch) != 0 {
		t.Errorf("%d errors left in the channel", len(ch))
	}
}
