package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged: state.db is not a whole bbolt file (zero-length, cut short, a bad meta
// page, a corrupted page). Nothing is started on it: the operator restores a backup or
// moves the file aside.
var ErrDamaged = errors.New("state.db is damaged")

// damaged is ErrDamaged with the cause and the file, in the words every caller prints.
func damaged(path, format string, args ...any) error {
	// bbolt reports corruption as panics ("panic: assertion failed: ..."); the cause is
	// kept, the word dropped: nothing crashed.
	cause := strings.ReplaceAll(fmt.Sprintf(format, args...), "panic: ", "")
	return fmt.Errorf("%w (%s): restore from backup or move it aside: %s (`provision state check` verifies a file and the backups next to it)",
		ErrDamaged, cause, path)
}

// bbolt's on-disk meta page (go.etcd.io/bbolt/internal/common): a 16-byte page header,
// then magic, version, page size, flags, root bucket (root, sequence), freelist, high
// water mark, txid and an FNV-64a checksum of what comes before it.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSumOffset  = 56
	metaSize       = 64
)

type diskMeta struct {
	pageSize uint32
	pgid     uint64 // pages in use: the file must hold pgid*pageSize bytes
	txid     uint64
}

// readMeta parses the meta page at off, or says why it is not one.
func readMeta(f io.ReaderAt, off int64) (diskMeta, error) {
	b := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(b, off); err != nil {
		return diskMeta{}, fmt.Errorf("meta page at byte %d: %w", off, err)
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian // bbolt writes its structs in the host's order; racklift runs on little-endian hosts
	if le.Uint32(m[0:]) != boltMagic {
		return diskMeta{}, fmt.Errorf("meta page at byte %d: not a bbolt meta page (magic %#x)", off, le.Uint32(m[0:]))
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return diskMeta{}, fmt.Errorf("meta page at byte %d: bbolt format version %d, want %d", off, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if h.Sum64() != le.Uint64(m[metaSumOffset:]) {
		return diskMeta{}, fmt.Errorf("meta page at byte %d: checksum mismatch", off)
	}
	return diskMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// Preflight checks path before bbolt maps it, so a damaged file is named rather than
// crashing the process (a file shorter than its meta says faults on access) or being
// taken for a fresh start (a zero-length file). A missing file is fine.
func Preflight(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return damaged(path, "zero-length file")
	}
	m0, err0 := readMeta(f, 0)
	// The second meta page follows the first; when the first is bad, look where bbolt
	// does, at the OS page size (4 KiB on the hosts racklift supports).
	second := int64(os.Getpagesize())
	if err0 == nil {
		second = int64(m0.pageSize)
	}
	m1, err1 := readMeta(f, second)
	var m diskMeta
	switch {
	case err0 != nil && err1 != nil:
		return damaged(path, "bad meta: %v; %v", err0, err1)
	case err0 != nil:
		m = m1
	case err1 != nil || m0.txid >= m1.txid:
		m = m0
	default:
		m = m1
	}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return damaged(path, "bad meta: page size %d", m.pageSize)
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return damaged(path, "truncated: %d bytes, its meta page says %d pages of %d bytes (%d bytes)", size, m.pgid, m.pageSize, want)
	}
	return nil
}

// guard runs fn (a bbolt transaction) and turns a panic or a memory fault inside it (bbolt
// asserts on corrupted pages; a page cut off faults) into ErrDamaged naming the file, so
// the CLI prints one line and serve's handlers answer 500 instead of crashing.
func (s *Bolt) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, "%v", r)
		}
	}()
	return fn()
}

func (s *Bolt) view(fn func(tx *bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

func (s *Bolt) update(fn func(tx *bolt.Tx) error) error {
	s.writes.Lock()
	defer s.writes.Unlock()
	return s.guard(func() error { return s.db.Update(fn) })
}

// Check runs bbolt's consistency check (every page reachable once, no page past the
// high water mark, keys in order) over the whole file: serve runs it at start, `provision
// state check` on demand. It returns ErrDamaged with the first problems found.
func (s *Bolt) Check() error {
	s.writes.Lock()
	defer s.writes.Unlock()
	return s.view(func(tx *bolt.Tx) error { return checkTx(tx, s.path) })
}

// firstErrors keeps the first max errors of ch and drains the rest: bbolt's check runs
// to its end, and one damaged page can give thousands.
func firstErrors(ch <-chan error, max int) []error {
	var errs []error
	for err := range ch {
		if len(errs) < max {
			errs = append(errs, err)
		}
	}
	return errs
}

func checkTx(tx *bolt.Tx, path string) error {
	if errs := firstErrors(tx.Check(), 5); len(errs) > 0 {
		return damaged(path, "consistency check: %v", errors.Join(errs...))
	}
	return nil
}

// WriteBackup writes a consistent snapshot of the state to w while writers go on
// (one read transaction, checked first so a backup is never a copy of a damaged file),
// returning its size.
func (s *Bolt) WriteBackup(w io.Writer) (int64, error) {
	var n int64
	s.writes.Lock() // the whole transaction: the check and the copy see one state
	defer s.writes.Unlock()
	err := s.view(func(tx *bolt.Tx) error {
		if err := checkTx(tx, s.path); err != nil {
			return err
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
