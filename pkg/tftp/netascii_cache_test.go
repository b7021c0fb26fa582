package tftp

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestNetasciiCache: a netascii file is converted once per version (size and mtime) and
// served whole up to cacheMax converted bytes; a file that could convert past that
// (over cacheMax/2) is refused. Mutants (make mutate, cache.go netascii): the size
// limit's boundary and arithmetic, the version check, the read limit.
func TestNetasciiCache(t *testing.T) {
	fast(t)
	dir := t.TempDir()
	var conversions atomic.Int32
	c := cache{toNetascii: func(r io.Reader) io.Reader { conversions.Add(1); return netasciiReader(r) }}
	get := func(name string) (r *bytes.Reader, err error) {
		t.Helper()
		withFile(t, filepath.Join(dir, name), func(f *os.File, fi os.FileInfo) { r, err = c.netascii(name, f, fi) })
		return r, err
	}
	write := func(name string, data []byte, mod time.Time) {
		t.Helper()
		writeAt(t, filepath.Join(dir, name), data, mod)
	}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

	// Every byte a line end: cacheMax/2 bytes convert to exactly cacheMax, served whole.
	write("lines", bytes.Repeat([]byte("\n"), cacheMax/2), t0)
	r, err := get("lines")
	if err != nil || r.Size() != cacheMax {
		t.Fatalf("cacheMax/2 line ends: %v, size %v; want %d bytes", err, sizeOf(r), cacheMax)
	}
	if _, err := get("lines"); err != nil || conversions.Load() != 1 {
		t.Errorf("second request: %v, %d conversions; want the first one's", err, conversions.Load())
	}
	// A new version of the same size (mtime) and a new size: converted again.
	write("lines", bytes.Repeat([]byte("\n"), cacheMax/2), t0.Add(time.Minute))
	if r, err := get("lines"); err != nil || r.Size() != cacheMax || conversions.Load() != 2 {
		t.Errorf("new mtime: %v, size %v, %d conversions; want 2", err, sizeOf(r), conversions.Load())
	}
	write("lines", []byte("a\nb\n"), t0.Add(time.Minute))
	if r, err := get("lines"); err != nil || conversions.Load() != 3 || r.Size() != 6 {
		t.Errorf("new size, same mtime: %v, size %v, %d conversions; want 3 and 6 bytes", err, sizeOf(r), conversions.Load())
	}

	// One byte more than cacheMax/2 could convert past cacheMax: refused, not truncated.
	write("big", bytes.Repeat([]byte("x"), cacheMax/2+1), t0)
	if r, err := get("big"); err == nil {
		t.Errorf("a netascii file of cacheMax/2+1 bytes served (%v bytes)", sizeOf(r))
	}
}

func sizeOf(r *bytes.Reader) any {
	if r == nil {
		return nil
	}
	return r.Size()
}

// TestIntOptionBounds: an option's value is taken at both ends of its range and refused
// one past either. Mutants (make mutate, packet.go intOption): the bounds' comparisons.
func TestIntOptionBounds(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{value: "8", ok: true}, {value: "65464", ok: true},
		{value: "7", ok: false}, {value: "65465", ok: false}, {value: "x", ok: false},
	} {
		r := request{opts: []option{{name: "blksize", value: tc.value}}}
		if _, ok := r.intOption("blksize", 8, 65464); ok != tc.ok {
			t.Errorf("blksize %s in [8, 65464]: %v, want %v", tc.value, ok, tc.ok)
		}
	}
	if _, ok := (request{}).intOption("blksize", 8, 65464); ok {
		t.Error("an absent option taken")
	}
}
