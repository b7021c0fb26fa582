package tftp

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"
)

// Files up to cacheMax bytes are kept in memory, up to cacheTotal in all: the iPXE
// binaries are about 1 MiB each.
const (
	cacheMax   = 16 << 20
	cacheTotal = 64 << 20
)

type cached struct {
	size int64
	mod  time.Time
	data []byte
}

// cache holds file contents keyed by name, checked against size and modification time
// on every request so a replaced file is never served stale.
type cache struct {
	mu    sync.Mutex
	files map[string]*cached
	total int64
}

// reader returns the contents of f from memory (reading it once), or nil when the file
// is too large to cache; f is not closed.
func (c *cache) reader(name string, f *os.File, fi os.FileInfo) *bytes.Reader {
	if fi.Size() > cacheMax {
		return nil
	}
	c.mu.Lock()
	e := c.files[name]
	c.mu.Unlock()
	if e != nil && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return bytes.NewReader(e.data)
	}
	data, err := io.ReadAll(io.LimitReader(f, cacheMax+1))
	if err != nil || int64(len(data)) != fi.Size() {
		return nil // changing under us: read it directly instead
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*cached{}
	}
	if old := c.files[name]; old != nil {
		c.total -= old.size
	}
	if c.total+fi.Size() > cacheTotal {
		clear(c.files)
		c.total = 0
	}
	c.files[name] = &cached{size: fi.Size(), mod: fi.ModTime(), data: data}
	c.total += fi.Size()
	return bytes.NewReader(data)
}
