package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ImageNotFoundError is an image URL the server answered with an error status.
type ImageNotFoundError struct {
	URL    string
	Status int
}

func (e *ImageNotFoundError) Error() string {
	return fmt.Sprintf("image not found: GET %s: HTTP %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// Source streams an image over HTTP(S) and resumes with a Range request where a broken
// connection left off, so a restarted server or a dropped link costs one reconnect.
type Source struct {
	URL    string
	Client *http.Client // default: a client without an overall timeout (images are large)
	// Retries bounds the reconnects of one download (default 8); RetryWait is the first
	// wait, doubled each time up to 10 s (default 500 ms).
	Retries   int
	RetryWait time.Duration
	// IdleTimeout ends a connection that delivers nothing for this long (default 60 s).
	IdleTimeout time.Duration
}

// body is the resuming reader Open returns.
type body struct {
	ctx     context.Context
	s       *Source
	cur     io.ReadCloser
	off     int64  // bytes delivered to the reader so far
	size    int64  // Content-Length of the whole image, -1 when unknown
	etag    string // pins the resumed ranges to the same file
	retries int
	// Requests counts the GETs made (1 + reconnects), for the report and tests.
	Requests int
	lastErr  error
}

// Open starts the download; the returned reader resumes on its own. Size is the whole
// transfer's length, -1 when the server does not say.
func (s *Source) Open(ctx context.Context) (io.ReadCloser, int64, error) {
	b := &body{ctx: ctx, s: s, size: -1}
	if err := b.connect(); err != nil {
		var pe permanentError
		if errors.As(err, &pe) {
			return nil, 0, pe.error
		}
		// Serve may be restarting: Read retries the connection.
		b.lastErr = err
	}
	return b, b.size, nil
}

func (s *Source) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 30 * time.Second}}
}

// connect makes one GET from b.off; a status that will not change on a retry (4xx) is
// returned as ImageNotFoundError at once.
func (b *body) connect() error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.s.URL, nil)
	if err != nil {
		return fmt.Errorf("image URL %q: %w", b.s.URL, err)
	}
	// No transparent gzip: the bytes hashed must be the file's bytes.
	req.Header.Set("Accept-Encoding", "identity")
	if b.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", b.off))
		if b.etag != "" {
			req.Header.Set("If-Range", b.etag)
		}
	}
	b.Requests++
	resp, err := b.s.client().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", b.s.URL, err)
	}
	switch {
	case b.off > 0 && resp.StatusCode == http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != b.off {
			resp.Body.Close()
			return permanent(fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q", b.s.URL, b.off, resp.Header.Get("Content-Range")))
		}
	case resp.StatusCode == http.StatusOK:
		if b.off > 0 {
			if b.etag != "" {
				resp.Body.Close()
				return permanent(fmt.Errorf("GET %s: the image changed on the server during the download (ETag %s no longer matches)", b.s.URL, b.etag))
			}
			// A server without Range support: skip what was already delivered.
			if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
				resp.Body.Close()
				return fmt.Errorf("GET %s: skipping to byte %d: %w", b.s.URL, b.off, err)
			}
		} else {
			b.size = resp.ContentLength
			if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
				b.etag = et
			}
		}
	default:
		resp.Body.Close()
		nf := &ImageNotFoundError{URL: b.s.URL, Status: resp.StatusCode}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return permanent(nf)
		}
		return nf
	}
	b.cur = resp.Body
	return nil
}

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

func permanent(err error) error { return permanentError{err} }

func contentRangeStart(h string) (int64, bool) {
	// "bytes 100-199/200"
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// Read reads the image, reconnecting from the current offset after an error until the
// retries are spent; the error then names the offset and the last cause.
func (b *body) Read(p []byte) (int, error) {
	for {
		if b.cur != nil {
			n, err := b.readIdle(p)
			b.off += int64(n)
			// net/http reports a body cut short of its Content-Length (or chunked
			// terminator) as ErrUnexpectedEOF, so EOF is the whole image.
			if err == nil || errors.Is(err, io.EOF) {
				return n, err
			}
			b.cur.Close()
			b.cur = nil
			b.lastErr = err
			if n > 0 {
				return n, nil
			}
		}
		if err := b.ctx.Err(); err != nil {
			return 0, err
		}
		if b.retries >= b.s.retries() {
			return 0, fmt.Errorf("GET %s: gave up at byte %d after %d reconnects: %w", b.s.URL, b.off, b.retries, b.lastErr)
		}
		wait := b.s.retryWait() << b.retries
		if wait > 10*time.Second {
			wait = 10 * time.Second
		}
		b.retries++
		select {
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		case <-time.After(wait):
		}
		if err := b.connect(); err != nil {
			var pe permanentError
			if errors.As(err, &pe) {
				return 0, pe.error
			}
			b.lastErr = err
		}
	}
}

// readIdle is one Read that fails when the connection delivers nothing for IdleTimeout.
func (b *body) readIdle(p []byte) (int, error) {
	idle := b.s.IdleTimeout
	if idle <= 0 {
		idle = 60 * time.Second
	}
	t := time.AfterFunc(idle, func() { b.cur.Close() })
	n, err := b.cur.Read(p)
	if !t.Stop() && err != nil {
		err = fmt.Errorf("no data for %v: %w", idle, err)
	}
	return n, err
}

func (b *body) Close() error {
	if b.cur != nil {
		return b.cur.Close()
	}
	return nil
}

func (s *Source) retries() int {
	if s.Retries > 0 {
		return s.Retries
	}
	return 8
}

func (s *Source) retryWait() time.Duration {
	if s.RetryWait > 0 {
		return s.RetryWait
	}
	return 500 * time.Millisecond
}
