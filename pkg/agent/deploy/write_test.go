package deploy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// testImage is size bytes of compressible but not trivial data.
func testImage(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, size)
	for i := 0; i < size; i += 512 {
		v := byte(r.IntN(8))
		for j := i; j < min(i+512, size); j++ {
			b[j] = v + byte(j%7)
		}
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func compress(t *testing.T, format string, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch format {
	case FormatRaw:
		return raw
	case FormatZstd:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw)
		zw.Close()
	case FormatGzip:
		gw := gzip.NewWriter(&buf)
		gw.Write(raw)
		gw.Close()
	}
	return buf.Bytes()
}

// imageServer serves data at /img with Range support, counting the bytes it sent and the
// requests; cutAt > 0 makes the first response die after that many bytes.
type imageServer struct {
	*httptest.Server
	served, requests atomic.Int64
	ranges           []string
	mu               sync.Mutex
}

func newImageServer(t *testing.T, data []byte, cutAt int) *imageServer {
	s := &imageServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/img" {
			http.NotFound(w, r)
			return
		}
		n := s.requests.Add(1)
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		cw := &countingWriter{ResponseWriter: w, n: &s.served}
		if n == 1 && cutAt > 0 {
			cw.limit = int64(cutAt)
		}
		http.ServeContent(cw, r, "img", time.Unix(1e9, 0), bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

type countingWriter struct {
	http.ResponseWriter
	n     *atomic.Int64
	sent  int64
	limit int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.limit > 0 && c.sent+int64(len(p)) > c.limit {
		p = p[:c.limit-c.sent]
		c.ResponseWriter.Write(p)
		c.n.Add(int64(len(p)))
		c.ResponseWriter.(http.Flusher).Flush()
		// Cut the connection mid-body, as a dying server or a dropped link does.
		conn, _, err := http.NewResponseController(c.ResponseWriter).Hijack()
		if err == nil {
			conn.Close()
		}
		return 0, errors.New("cut")
	}
	n, err := c.ResponseWriter.Write(p)
	c.sent += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// targetFile is a "disk": size bytes of 0xff in dir.
func targetFile(t *testing.T, dir string, size int) string {
	t.Helper()
	p := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(p, bytes.Repeat([]byte{0xff}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

func shmDir(t *testing.T) string {
	d, err := os.MkdirTemp("/dev/shm", "racklift-deploy-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestWriteFormatsAndDirectIO(t *testing.T) {
	raw := testImage(5<<20 + 1536) // not a multiple of 4 KiB: the tail is written buffered
	for _, format := range []string{FormatRaw, FormatZstd, FormatGzip} {
		for _, fs := range []string{"disk", "tmpfs", "refuses O_DIRECT"} {
			t.Run(format+"/"+fs, func(t *testing.T) {
				dir := t.TempDir()
				if fs == "tmpfs" {
					dir = shmDir(t)
				}
				if fs == "refuses O_DIRECT" {
					openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
						if flag&unix.O_DIRECT != 0 {
							return nil, &os.PathError{Op: "open", Path: name, Err: unix.EINVAL}
						}
						return os.OpenFile(name, flag, perm)
					}
					t.Cleanup(func() { openFile = os.OpenFile })
				}
				srv := newImageServer(t, compress(t, format, raw), 0)
				dev := targetFile(t, dir, 8<<20)
				body, _, err := (&Source{URL: srv.URL + "/img"}).Open(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer body.Close()
				w, err := Write(context.Background(), body, dev, sum(raw), WriteOptions{Image: "test"})
				if err != nil {
					t.Fatal(err)
				}
				if w.Format != format || w.Bytes != int64(len(raw)) || !w.Verified || w.SHA256 != sum(raw) {
					t.Fatalf("Written = %+v, want %s, %d bytes, verified", w, format, len(raw))
				}
				if fs == "refuses O_DIRECT" && (w.Direct || !strings.Contains(w.NoDirect, "EINVAL")) {
					t.Errorf("Direct=%v NoDirect=%q, want the EINVAL fallback named", w.Direct, w.NoDirect)
				}
				if fs != "refuses O_DIRECT" && !w.Direct {
					t.Logf("%s refuses O_DIRECT: %s", fs, w.NoDirect)
				}
				got, _ := os.ReadFile(dev)
				if !bytes.Equal(got[:len(raw)], raw) {
					t.Fatal("the disk does not hold the image")
				}
				if got[len(raw)] != 0xff {
					t.Error("bytes past the image were changed")
				}
			})
		}
	}
}

func TestWriteResumesAfterCut(t *testing.T) {
	raw := testImage(12 << 20)
	img := compress(t, FormatZstd, raw)
	srv := newImageServer(t, img, len(img)/2)
	dev := targetFile(t, t.TempDir(), 16<<20)
	src := &Source{URL: srv.URL + "/img", RetryWait: 10 * time.Millisecond}
	body, _, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w, err := Write(context.Background(), body, dev, sum(raw), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Verified {
		t.Fatal("not verified")
	}
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("requests = %d, want 2 (the cut one and one resume)", got)
	}
	// A restart from zero would serve about 1.5x the image.
	if served := srv.served.Load(); served != int64(len(img)) {
		t.Errorf("served %d bytes for a %d-byte image: the download was not resumed where it was cut", served, len(img))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.ranges) != 2 || srv.ranges[0] != "" || !strings.HasPrefix(srv.ranges[1], "bytes=") {
		t.Errorf("Range headers = %q, want none then bytes=N-", srv.ranges)
	}
}

func TestWriteGivesUpAfterRetries(t *testing.T) {
	raw := testImage(2 << 20)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	dev := targetFile(t, t.TempDir(), 4<<20)
	body, _, err := (&Source{URL: srv.URL + "/img", Retries: 3, RetryWait: time.Millisecond}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Write(context.Background(), body, dev, sum(raw), WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "after 3 reconnects") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want it to give up after 3 reconnects naming HTTP 503", err)
	}
	if n.Load() != 4 {
		t.Errorf("requests = %d, want 4 (bounded)", n.Load())
	}
}

func TestWriteChecksumMismatchWipes(t *testing.T) {
	raw := testImage(6 << 20)
	srv := newImageServer(t, raw, 0)
	dev := targetFile(t, t.TempDir(), 16<<20)
	body, _, _ := (&Source{URL: srv.URL + "/img"}).Open(context.Background())
	wrong := strings.Repeat("ab", 32)
	_, err := Write(context.Background(), body, dev, wrong, WriteOptions{Image: "debian-13"})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ChecksumError", err)
	}
	for _, s := range []string{wrong, sum(raw), "debian-13", dev} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	got, _ := os.ReadFile(dev)
	if !bytes.Equal(got[:wipeSize], make([]byte, wipeSize)) {
		t.Error("first MiB not wiped")
	}
	if !bytes.Equal(got[len(got)-wipeSize:], make([]byte, wipeSize)) {
		t.Error("last MiB not wiped")
	}
	if !bytes.Equal(got[wipeSize:2*wipeSize], raw[wipeSize:2*wipeSize]) {
		t.Error("the middle was not written (the wipe should only touch head and tail)")
	}
}

func TestWriteRefusals(t *testing.T) {
	qcow := append([]byte("QFI\xfb"), make([]byte, 1024)...)
	srv := newImageServer(t, qcow, 0)
	for _, tc := range []struct {
		name, url, dev, want string
		sha                  string
	}{
		{name: "image not found", url: srv.URL + "/nope", want: "image not found: GET " + srv.URL + "/nope: HTTP 404"},
		{name: "qcow2", url: srv.URL + "/img", want: "qcow2"},
		{name: "no checksum", url: srv.URL + "/img", sha: "-", want: "no checksum, no deploy"},
		{name: "disk write error", url: "", dev: "/dev/full", want: "disk write error on /dev/full at offset 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(testImage(1 << 20))
			if tc.url != "" {
				body, _, err := (&Source{URL: tc.url}).Open(context.Background())
				if err != nil {
					if !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("err = %v, want %q", err, tc.want)
					}
					var nf *ImageNotFoundError
					if !errors.As(err, &nf) || nf.Status != 404 {
						t.Fatalf("err = %#v, want ImageNotFoundError 404", err)
					}
					return
				}
				src = body
			}
			dev := tc.dev
			if dev == "" {
				dev = targetFile(t, t.TempDir(), 2<<20)
			}
			sha := sum(testImage(1 << 20))
			if tc.sha == "-" {
				sha = ""
			}
			_, err := Write(context.Background(), src, dev, sha, WriteOptions{Image: "x"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A file replaced on the server between the cut and the resume is not spliced: the
// resume's If-Range carries the first response's ETag, the server answers the whole new
// file, and the download stops naming the change.
func TestWriteRefusesImageChangedDuringDownload(t *testing.T) {
	raw := testImage(12 << 20) // the cut comes after the first 4 MiB block was written
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := n.Add(1)
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, call)) // a new file on every request
		cw := &countingWriter{ResponseWriter: w, n: new(atomic.Int64)}
		if call == 1 {
			cw.limit = int64(len(raw) / 2)
		}
		http.ServeContent(cw, r, "img", time.Unix(1e9, 0), bytes.NewReader(raw))
	}))
	t.Cleanup(srv.Close)
	dev := targetFile(t, t.TempDir(), 16<<20)
	body, _, err := (&Source{URL: srv.URL + "/img", RetryWait: time.Millisecond}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Write(context.Background(), body, dev, sum(raw), WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), `the image changed on the server during the download (ETag "v1" no longer matches)`) {
		t.Fatalf("err = %v, want the change named", err)
	}
	got, _ := os.ReadFile(dev)
	if !bytes.Equal(got[:wipeSize], make([]byte, wipeSize)) {
		t.Error("the half-written disk's head was not wiped")
	}
}
