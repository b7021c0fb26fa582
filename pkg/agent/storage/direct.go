// Package storage measures each mount a profile names with O_DIRECT sequential write and
// read (1 MiB blocks, several requests in flight, bounded by time and size), adds one
// buffered single-stream read that shows readahead, and inspects NFS mounts for the Linux
// settings that make an array underperform.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Params bound one measurement. Jobs streams each own a contiguous region of the file
// (Size/Jobs) and write then read it sequentially with pwrite/pread, one request in
// flight each, each write stream ending with fsync: fio's psync engine with
// numjobs=Jobs, offset_increment=Size/Jobs, end_fsync=1.
type Params struct {
	Size      int64         // file size in bytes; default 1 GiB
	BlockSize int           // default 1 MiB
	Jobs      int           // parallel streams; default 4
	Duration  time.Duration // limit per phase; default 30s
}

func (p *Params) defaults() {
	if p.Size <= 0 {
		p.Size = 1 << 30
	}
	if p.BlockSize <= 0 {
		p.BlockSize = 1 << 20
	}
	if p.Jobs <= 0 {
		p.Jobs = 4
	}
	if p.Duration <= 0 {
		p.Duration = 30 * time.Second
	}
}

// Throughput is what one measurement found. MB is 10^6 bytes, as fio's MB/s.
type Throughput struct {
	File          string
	WriteBytes    int64
	WriteTime     time.Duration
	ReadBytes     int64
	ReadTime      time.Duration
	BufferedBytes int64 // single-stream buffered read, 0 when not run
	BufferedTime  time.Duration
}

func mbps(b int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / 1e6 / d.Seconds()
}

func (t Throughput) WriteMBps() float64    { return mbps(t.WriteBytes, t.WriteTime) }
func (t Throughput) ReadMBps() float64     { return mbps(t.ReadBytes, t.ReadTime) }
func (t Throughput) BufferedMBps() float64 { return mbps(t.BufferedBytes, t.BufferedTime) }

// ErrNoDirect is returned for a filesystem that refuses O_DIRECT (tmpfs, some FUSE).
var ErrNoDirect = errors.New("filesystem refuses O_DIRECT")

// TestFilePrefix names the agent's test files, so a run killed with SIGKILL leaves a file
// the next run recognises and removes.
const TestFilePrefix = ".racklift-iotest-"

// live holds the test files being written, for RemoveLive on a signal.
var live sync.Map

// RemoveLive removes every test file a measurement in this process has open; the
// command calls it when SIGINT or SIGTERM arrives.
func RemoveLive() {
	live.Range(func(k, _ any) bool {
		os.Remove(k.(string))
		return true
	})
}

// removeStale deletes test files left by agent processes that no longer run.
func removeStale(dir string) {
	ms, _ := filepath.Glob(filepath.Join(dir, TestFilePrefix+"*"))
	for _, m := range ms {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(m), TestFilePrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			os.Remove(m)
		}
	}
}

// Measure writes then reads a new test file in dir with O_DIRECT and removes it, also when
// ctx is cancelled. buffered adds a single-stream buffered read of the same file.
func Measure(ctx context.Context, dir string, p Params, buffered bool) (Throughput, error) {
	p.defaults()
	removeStale(dir)
	var tag [4]byte
	rand.Read(tag[:])
	path := filepath.Join(dir, fmt.Sprintf("%s%d-%s", TestFilePrefix, os.Getpid(), hex.EncodeToString(tag[:])))
	live.Store(path, true)
	defer func() {
		os.Remove(path)
		live.Delete(path)
	}()
	return measurePath(ctx, path, unix.O_EXCL, p, buffered)
}

// Phases MeasureFile can run.
const (
	WriteRead = iota // write, then read back what was written
	WriteOnly
	ReadOnly // read a file already Size long
)

// MeasureFile is Measure on a file the caller names and keeps (created if missing), one
// phase or both: `node-agent bench` points fio at the same file between phases.
func MeasureFile(ctx context.Context, path string, p Params, phase int) (Throughput, error) {
	p.defaults()
	return measure(ctx, path, 0, p, false, phase)
}

func measurePath(ctx context.Context, path string, excl int, p Params, buffered bool) (Throughput, error) {
	return measure(ctx, path, excl, p, buffered, WriteRead)
}

func measure(ctx context.Context, path string, excl int, p Params, buffered bool, phase int) (Throughput, error) {
	t := Throughput{File: path}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|excl|unix.O_DIRECT|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EINVAL) {
		if excl != 0 {
			os.Remove(path)
		}
		return t, ErrNoDirect
	}
	if err != nil {
		return t, fmt.Errorf("create test file %s: %w", path, err)
	}
	defer unix.Close(fd)

	region := p.Size / int64(p.Jobs) / int64(p.BlockSize) * int64(p.BlockSize)
	if region == 0 {
		return t, fmt.Errorf("size %d is smaller than %d jobs × %d-byte blocks", p.Size, p.Jobs, p.BlockSize)
	}
	bufs := make([][]byte, p.Jobs)
	for j := range bufs {
		// mmap gives page-aligned memory, as O_DIRECT needs.
		b, err := unix.Mmap(-1, 0, p.BlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return t, fmt.Errorf("allocate aligned buffer: %w", err)
		}
		defer unix.Munmap(b)
		rand.Read(b) // incompressible; stamp makes every 4 KiB unique too (no dedupe)
		bufs[j] = b
	}

	written := make([]int64, p.Jobs)
	if phase == ReadOnly {
		for j := range written {
			written[j] = region
		}
		goto read
	}
	t.WriteTime, err = run(ctx, p, func(j int, deadline time.Time) error {
		off := int64(j) * region
		for done := int64(0); done < region; done += int64(p.BlockSize) {
			if ctx.Err() != nil {
				return nil
			}
			if time.Now().After(deadline) {
				break
			}
			stamp(bufs[j], off+done)
			if _, err := unix.Pwrite(fd, bufs[j], off+done); err != nil {
				if errors.Is(err, unix.EINVAL) {
					return ErrNoDirect
				}
				return fmt.Errorf("write %s at %d: %w", path, off+done, err)
			}
			atomic.AddInt64(&written[j], int64(p.BlockSize))
		}
		// Each stream ends with fsync, timed, as fio's end_fsync=1: O_DIRECT bypasses the
		// page cache but not a device's write-back cache (a RAID controller's, a VM
		// host's), which would otherwise be counted as storage.
		if err := unix.Fsync(fd); err != nil {
			return fmt.Errorf("fsync %s: %w", path, err)
		}
		return nil
	})
	for _, w := range written {
		t.WriteBytes += w
	}
	if err != nil || ctx.Err() != nil || phase == WriteOnly {
		return t, firstErr(err, ctx.Err())
	}

read:
	var read int64
	t.ReadTime, err = run(ctx, p, func(j int, deadline time.Time) error {
		off := int64(j) * region
		for done := int64(0); done < written[j]; done += int64(p.BlockSize) {
			if ctx.Err() != nil || time.Now().After(deadline) {
				return nil
			}
			n, err := unix.Pread(fd, bufs[j], off+done)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w", path, off+done, err)
			}
			atomic.AddInt64(&read, int64(n))
		}
		return nil
	})
	t.ReadBytes = read
	if err != nil || ctx.Err() != nil || !buffered {
		return t, firstErr(err, ctx.Err())
	}
	t.BufferedBytes, t.BufferedTime, err = bufferedRead(ctx, path, p)
	return t, firstErr(err, ctx.Err())
}

// stamp writes the file offset of each 4 KiB sector into its first bytes, so no two
// sectors the agent writes are alike: a deduplicating array (or a VM host's storage)
// would otherwise store one block and report speeds no real data gets, as fio's
// scramble_buffers avoids.
func stamp(b []byte, off int64) {
	for i := 0; i+16 <= len(b); i += 4096 {
		binary.LittleEndian.PutUint64(b[i:], uint64(off)+uint64(i))
		binary.LittleEndian.PutUint64(b[i+8:], uint64(time.Now().UnixNano()))
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// run starts one goroutine per job and returns the slowest job's own time: each job
// clocks itself from its first request to its last (and its fsync), as each fio job
// does, and fio's group figure is all bytes over the slowest job's time. fio starts
// its jobs a few milliseconds apart; a clock shared by all jobs would count that
// against the agent only.
func run(ctx context.Context, p Params, job func(j int, deadline time.Time) error) (time.Duration, error) {
	deadline := time.Now().Add(p.Duration)
	errs := make([]error, p.Jobs)
	took := make([]time.Duration, p.Jobs)
	var wg sync.WaitGroup
	for j := 0; j < p.Jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			errs[j] = job(j, deadline)
			took[j] = time.Since(start)
		}()
	}
	wg.Wait()
	return slices.Max(took), errors.Join(errs...)
}

// bufferedRead reads the file from the start through the page cache in one stream, as a
// single-threaded application would, so the kernel's readahead decides the speed. The
// file was written with O_DIRECT, so none of it is cached; DONTNEED makes sure.
func bufferedRead(ctx context.Context, path string, p Params) (int64, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	buf := make([]byte, p.BlockSize)
	var n int64
	start := time.Now()
	deadline := start.Add(p.Duration)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		k, err := f.Read(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	return n, time.Since(start), nil
}
