package tftp

import (
	"bytes"
	"fmt"
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
	size    int64
	srcSize int64 // netascii: the size of the file it was converted from
	mod     time.Time
	data    []byte
}

// cache holds file contents keyed by name, checked against size and modification time
// on every request so a replaced file is never served stale.
type cache struct {
	conv sync.Mutex // one netascii conversion at a time
	// toNetascii converts; nil is netasciiReader. A test holds a conversion with it to
	// show that other requests are answered meanwhile.
	toNetascii func(io.Reader) io.Reader
	mu         sync.Mutex
	files      map[string]*cached
	total      int64
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
	c.put(name, &cached{size: fi.Size(), mod: fi.ModTime(), data: data})
	return bytes.NewReader(data)
}

// netascii returns f converted to netascii (CR LF line ends), converting it once per
// file version: conversions are serialised and the result kept under "netascii:"+name,
// so a burst of netascii requests costs one conversion and one copy.
func (c *cache) netascii(name string, f *os.File, fi os.FileInfo) (*bytes.Reader, error) {
	if fi.Size() > cacheMax/2 { // converted, it can double
		return nil, fmt.Errorf("%s: too large for a netascii transfer (%d bytes; use octet mode)", name, fi.Size())
	}
	key := "netascii:" + name
	c.conv.Lock()
	defer c.conv.Unlock()
	c.mu.Lock()
	e := c.files[key]
	c.mu.Unlock()
	if e != nil && e.srcSize == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return bytes.NewReader(e.data), nil
	}
	convert := c.toNetascii
	if convert == nil {
		convert = netasciiReader
	}
	data, err := io.ReadAll(io.LimitReader(convert(io.NewSectionReader(f, 0, fi.Size())), cacheMax+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.put(key, &cached{size: int64(len(data)), srcSize: fi.Size(), mod: fi.ModTime(), data: data})
	return bytes.NewReader(data), nil
}

func (c *cache) put(key string, e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*cached{}
	}
	if old := c.files[key]; old != nil {
		c.total -= old.size
	}
	if c.total+e.size > cacheTotal {
		clear(c.files)
		c.total = 0
	}
	c.files[key] = e
	c.total += e.size
}
