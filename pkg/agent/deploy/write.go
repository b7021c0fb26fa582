package deploy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Image formats the node writes. qcow2 (and anything else) is converted on the server
// or not deployed: the agent never parses a format that can point at other files.
const (
	FormatRaw  = "raw"
	FormatZstd = "zstd"
	FormatGzip = "gzip"
)

// BlockSize is the size of each write (and of the aligned buffers).
const BlockSize = 4 << 20

// wipeSize is zeroed at the head and tail of a disk whose write failed, so neither the
// primary nor the backup GPT (nor a boot sector) of a half-written image survives.
const wipeSize = 1 << 20

// DetectFormat names an image's format by its first bytes, as the reference anchors
// learned: the file name can lie, the magic cannot.
func DetectFormat(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return FormatZstd, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatGzip, nil
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return "", errors.New("image is qcow2: convert it to raw on the server (qemu-img convert -O raw), the node never parses qcow2")
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "", errors.New("image is xz-compressed: recompress it with zstd or gzip (or import it raw)")
	case bytes.HasPrefix(head, []byte("BZh")):
		return "", errors.New("image is bzip2-compressed: recompress it with zstd or gzip (or import it raw)")
	}
	return FormatRaw, nil
}

// ChecksumError is an image whose raw bytes did not hash to the sha256 the profile gives.
type ChecksumError struct {
	Image, Device    string
	Expected, Actual string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch for image %s on %s: expected sha256 %s, got %s (first and last MiB of the disk wiped)", e.Image, e.Device, e.Expected, e.Actual)
}

// ImageStreamError is an image that could not be read or decompressed to its end: a
// damaged compressed stream (zstd or gzip check failed) or a download that broke past its
// retries. The disk is not at fault.
type ImageStreamError struct {
	Image  string
	Offset int64 // raw bytes decoded before the failure
	Err    error
}

func (e *ImageStreamError) Error() string {
	return fmt.Sprintf("image %s: reading at raw byte %d: %v", e.Image, e.Offset, e.Err)
}
func (e *ImageStreamError) Unwrap() error { return e.Err }

// DiskWriteError is a failed write (or sync) of the target disk.
type DiskWriteError struct {
	Device string
	Offset int64
	Err    error
}

func (e *DiskWriteError) Error() string {
	return fmt.Sprintf("disk write error on %s at offset %d: %v", e.Device, e.Offset, e.Err)
}
func (e *DiskWriteError) Unwrap() error { return e.Err }

// Written is what Write did.
type Written struct {
	Format   string
	Bytes    int64 // raw bytes written
	SHA256   string
	Verified bool
	Elapsed  time.Duration
	// Direct is whether the writes bypassed the page cache; NoDirect says why not.
	Direct   bool
	NoDirect string
}

// MBps is the raw write rate in 10^6 bytes per second.
func (w Written) MBps() float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return float64(w.Bytes) / 1e6 / w.Elapsed.Seconds()
}

// WriteOptions tune Write; the zero value is the real thing.
type WriteOptions struct {
	Image string // for messages
	// Buffered skips O_DIRECT (tests of the fallback, or a target known to refuse it).
	Buffered bool
	// Progress, when set, is called after each block with the raw bytes written so far.
	Progress func(written int64)
}

type chunk struct {
	buf []byte
	n   int
	err error // io.EOF on the last chunk
}

// Write decompresses src (format by its magic bytes) onto device, hashing the raw bytes
// as they go, syncs, and checks the sha256 against want before returning. One goroutine
// reads, decompresses and hashes into 4 MiB aligned buffers while this one writes the
// previous buffer with O_DIRECT. On a mismatch or any failure after the first write the
// first and last MiB of the device are zeroed, so nothing boots from a half-written disk.
func Write(ctx context.Context, src io.Reader, device, want string, o WriteOptions) (Written, error) {
	start := time.Now()
	want = strings.ToLower(strings.TrimSpace(want))
	if len(want) != 64 {
		return Written{}, fmt.Errorf("image %s: sha256 %q is not 64 hex digits: no checksum, no deploy", o.Image, want)
	}
	br := bufio.NewReaderSize(src, 1<<20)
	head, _ := br.Peek(8)
	format, err := DetectFormat(head)
	if err != nil {
		return Written{}, fmt.Errorf("image %s: %w", o.Image, err)
	}
	var raw io.Reader = br
	switch format {
	case FormatZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			return Written{}, fmt.Errorf("image %s: zstd: %w", o.Image, err)
		}
		defer zr.Close()
		raw = zr
	case FormatGzip:
		gr, err := gzip.NewReader(br)
		if err != nil {
			return Written{}, fmt.Errorf("image %s: gzip: %w", o.Image, err)
		}
		raw = gr
	}

	w := Written{Format: format}
	f, direct, why, err := openTarget(device, o.Buffered)
	if err != nil {
		return w, &DiskWriteError{Device: device, Offset: 0, Err: err}
	}
	defer f.Close()
	w.Direct, w.NoDirect = direct, why

	const nbuf = 4
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- alignedBuffer(BlockSize)
	}
	full := make(chan chunk, nbuf)
	stop := make(chan struct{})
	h := sha256.New()
	go func() {
		defer close(full)
		// The reader's own count: w.Bytes is the writer's, which runs behind it (reading
		// it here raced with the writer, found by -race under make flake).
		var read int64
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			n, err := io.ReadFull(raw, buf)
			h.Write(buf[:n])
			read += int64(n)
			switch {
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				full <- chunk{buf: buf, n: n, err: io.EOF}
				return
			case err != nil:
				full <- chunk{err: &ImageStreamError{Image: o.Image, Offset: read, Err: err}}
				return
			}
			select {
			case full <- chunk{buf: buf, n: n}:
			case <-stop:
				return
			}
		}
	}()
	fail := func(err error) (Written, error) {
		close(stop)
		for range full { // let the reader finish
		}
		w.Elapsed = time.Since(start)
		if w.Bytes > 0 {
			if werr := wipe(f, device); werr != nil {
				err = fmt.Errorf("%w; and wiping the head and tail failed: %v", err, werr)
			}
		}
		return w, err
	}
	for c := range full {
		if c.n > 0 {
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			if err := writeAt(f, c.buf[:c.n], w.Bytes, &direct); err != nil {
				return fail(&DiskWriteError{Device: device, Offset: w.Bytes, Err: err})
			}
			w.Bytes += int64(c.n)
			if o.Progress != nil {
				o.Progress(w.Bytes)
			}
		}
		if c.err != nil && !errors.Is(c.err, io.EOF) {
			return fail(c.err)
		}
		if c.buf != nil {
			free <- c.buf
		}
	}
	if err := f.Sync(); err != nil {
		return fail(&DiskWriteError{Device: device, Offset: w.Bytes, Err: fmt.Errorf("fsync: %w", err)})
	}
	w.SHA256 = hex.EncodeToString(h.Sum(nil))
	w.Elapsed = time.Since(start)
	if w.SHA256 != want {
		_, err := fail(&ChecksumError{Image: o.Image, Device: device, Expected: want, Actual: w.SHA256})
		return w, err
	}
	w.Verified = true
	return w, nil
}

// openTarget opens the device for writing, with O_DIRECT when the filesystem or driver
// takes it (tmpfs and some FUSE refuse it with EINVAL: then buffered writes and fsync).
func openTarget(device string, buffered bool) (*os.File, bool, string, error) {
	if !buffered {
		f, err := openFile(device, os.O_WRONLY|unix.O_DIRECT, 0)
		if err == nil {
			return f, true, "", nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return nil, false, "", err
		}
		f, err = os.OpenFile(device, os.O_WRONLY, 0)
		return f, false, "the target refuses O_DIRECT (EINVAL): buffered writes, then fsync", err
	}
	f, err := os.OpenFile(device, os.O_WRONLY, 0)
	return f, false, "buffered writes asked for", err
}

// openFile is os.OpenFile; tests make it refuse O_DIRECT as tmpfs before Linux 6.6 and
// some FUSE filesystems do.
var openFile = os.OpenFile

// writeAt writes b at off. O_DIRECT needs lengths that are a multiple of the logical
// block size: a last short chunk is written with O_DIRECT cleared on the descriptor.
func writeAt(f *os.File, b []byte, off int64, direct *bool) error {
	if *direct && len(b)%4096 != 0 {
		aligned := len(b) &^ 4095
		if aligned > 0 {
			if _, err := f.WriteAt(b[:aligned], off); err != nil {
				return err
			}
		}
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(f.Fd(), unix.F_SETFL, fl&^unix.O_DIRECT)
		}
		if err != nil {
			return fmt.Errorf("clearing O_DIRECT for the last %d bytes: %w", len(b)-aligned, err)
		}
		*direct = false
		b, off = b[aligned:], off+int64(aligned)
	}
	_, err := f.WriteAt(b, off)
	return err
}

// alignedBuffer is n bytes starting on a 4096-byte boundary, as O_DIRECT needs.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+4096)
	off := 0
	if r := int(uintptr(unsafePointer(b)) & 4095); r != 0 {
		off = 4096 - r
	}
	return b[off : off+n : off+n]
}

// wipe zeroes the first and last MiB of the device (buffered, then synced).
func wipe(f *os.File, device string) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err == nil {
		unix.FcntlInt(f.Fd(), unix.F_SETFL, fl&^unix.O_DIRECT)
	}
	zero := make([]byte, wipeSize)
	head := min(int64(wipeSize), size)
	if _, err := f.WriteAt(zero[:head], 0); err != nil {
		return &DiskWriteError{Device: device, Offset: 0, Err: err}
	}
	if tail := size - wipeSize; tail > 0 {
		if _, err := f.WriteAt(zero, tail); err != nil {
			return &DiskWriteError{Device: device, Offset: tail, Err: err}
		}
	}
	return f.Sync()
}
