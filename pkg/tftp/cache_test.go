package tftp

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// withFile opens path and hands fn the file and its stat, closing it after.
func withFile(t *testing.T, path string, fn func(*os.File, os.FileInfo)) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	fn(f, fi)
}

// writeAt writes data to path with modification time mod.
func writeAt(t *testing.T, path string, data []byte, mod time.Time) {
	t.Helper()
	must(t, os.WriteFile(path, data, 0o644))
	must(t, os.Chtimes(path, mod, mod))
}

// TestCache: files up to cacheMax are served from memory until their size or mtime
// changes, larger ones are not cached, and the total stays within cacheTotal.
// (Written for the mutants gremlins left alive in cache.go; docs/dev/testing.md.)
func TestCache(t *testing.T) {
	fast(t)
	dir := t.TempDir()
	var c cache
	get := func(name string) (r *bytes.Reader) {
		t.Helper()
		withFile(t, filepath.Join(dir, name), func(f *os.File, fi os.FileInfo) { r = c.reader(name, f, fi) })
		return r
	}
	content := func(r *bytes.Reader) string {
		t.Helper()
		if r == nil {
			return "<not cached>"
		}
		b, _ := io.ReadAll(r)
		return string(b)
	}
	write := func(name string, data []byte, mod time.Time) {
		t.Helper()
		writeAt(t, filepath.Join(dir, name), data, mod)
	}
	sparse := func(name string, size int64) {
		t.Helper()
		f, err := os.Create(filepath.Join(dir, name))
		must(t, err)
		must(t, f.Truncate(size))
		must(t, f.Close())
	}
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	write("a", []byte("first"), mod)
	if got := content(get("a")); got != "first" {
		t.Fatalf("first read %q", got)
	}
	// Same size and mtime: served from memory (the new bytes are not read).
	write("a", []byte("FIRST"), mod)
	if got := content(get("a")); got != "first" {
		t.Errorf("unchanged size and mtime: %q, want the cached %q", got, "first")
	}
	// Another mtime or size: read again.
	write("a", []byte("again"), mod.Add(time.Second))
	if got := content(get("a")); got != "again" {
		t.Errorf("new mtime: %q, want again", got)
	}
	write("a", []byte("longer!"), mod.Add(time.Second))
	if got := content(get("a")); got != "longer!" {
		t.Errorf("new size: %q", got)
	}
	if c.total != 7 || len(c.files) != 1 {
		t.Errorf("after replacing a: total %d, %d files; want 7, 1", c.total, len(c.files))
	}
	write("b", []byte("bb"), mod)
	get("b")
	if c.total != 9 || len(c.files) != 2 {
		t.Errorf("a and b: total %d, %d files; want 9, 2", c.total, len(c.files))
	}

	// The size limit: cacheMax bytes are cached, one more is not.
	sparse("max", cacheMax)
	if r := get("max"); r == nil || r.Size() != cacheMax {
		t.Errorf("a file of cacheMax bytes was not cached")
	}
	sparse("big", cacheMax+1)
	if r := get("big"); r != nil {
		t.Errorf("a file of cacheMax+1 bytes was cached")
	}
	// The total: filling to exactly cacheTotal keeps everything, one byte more starts afresh.
	c.files, c.total = nil, 0
	for i := range cacheTotal / cacheMax {
		sparse("fill"+string(rune('0'+i)), cacheMax)
		get("fill" + string(rune('0'+i)))
	}
	if c.total != cacheTotal || len(c.files) != cacheTotal/cacheMax {
		t.Fatalf("filled: total %d, %d files; want %d, %d", c.total, len(c.files), cacheTotal, cacheTotal/cacheMax)
	}
	write("one", []byte("1"), mod)
	get("one")
	if c.total != 1 || len(c.files) != 1 {
		t.Errorf("past cacheTotal: total %d, %d files; want the cache emptied and 1 byte in it", c.total, len(c.files))
	}
}
