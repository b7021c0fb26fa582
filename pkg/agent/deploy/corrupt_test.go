package deploy

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/racklift/racklift/pkg/check"
)

// A damaged compressed image (the e2e test's flipped byte) is an image failure, never a
// disk write error: the operator re-imports the image instead of checking the disk.
func TestCorruptStreamIsAnImageFailure(t *testing.T) {
	raw := testImage(6 << 20)
	z := compress(t, FormatZstd, raw)
	z[len(z)/2] ^= 0x5a
	srv := newImageServer(t, z, 0)
	dev := targetFile(t, t.TempDir(), 16<<20)
	body, _, _ := (&Source{URL: srv.URL + "/img"}).Open(context.Background())
	_, err := Write(context.Background(), body, dev, sum(raw), WriteOptions{Image: "debian-13"})
	var se *ImageStreamError
	var ce *ChecksumError
	switch {
	case errors.As(err, &se):
		if got := failureOf(err, false); got != check.FailImageCorrupt {
			t.Errorf("failure %q, want %q", got, check.FailImageCorrupt)
		}
	case errors.As(err, &ce): // the decoder passed the damage through: the sha256 caught it
		if got := failureOf(err, false); got != check.FailChecksum {
			t.Errorf("failure %q, want %q", got, check.FailChecksum)
		}
	default:
		t.Fatalf("err = %v, want an image stream or checksum error", err)
	}
}

func TestFailureOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		verified bool
		want     string
	}{
		{name: "no disk", err: &NoDiskError{}, want: check.FailNoDisk},
		{name: "not found", err: fmt.Errorf("open: %w", &ImageNotFoundError{URL: "u", Status: 404}), want: check.FailImage},
		{name: "checksum", err: &ChecksumError{}, want: check.FailChecksum},
		{name: "stream", err: &ImageStreamError{Err: errors.New("crc")}, want: check.FailImageCorrupt},
		{name: "disk write", err: &DiskWriteError{Err: errors.New("eio")}, want: check.FailWrite},
		{name: "after the verified write", err: errors.New("grow"), verified: true, want: check.FailInstall},
		{name: "before anything", err: errors.New("bad sha"), want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failureOf(tc.err, tc.verified); got != tc.want {
				t.Errorf("failureOf(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
