package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestParamsDefaults: zero or negative parameters take fio-like defaults; set ones stay.
// Mutants (make mutate, issue 20): the Duration default's test and value.
func TestParamsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want Params }{
		{in: Params{}, want: Params{Size: 1 << 30, BlockSize: 1 << 20, Jobs: 4, Duration: 30 * time.Second}},
		{in: Params{Size: -1, BlockSize: -1, Jobs: -1, Duration: -1}, want: Params{Size: 1 << 30, BlockSize: 1 << 20, Jobs: 4, Duration: 30 * time.Second}},
		{in: Params{Size: 1, BlockSize: 1, Jobs: 1, Duration: 1}, want: Params{Size: 1, BlockSize: 1, Jobs: 1, Duration: 1}},
	} {
		got := tc.in
		got.defaults()
		if got != tc.want {
			t.Errorf("%+v.defaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestMeasureWritesExactlySize: the jobs split Size into block-aligned regions and write
// and read each once: the bytes counted are Size, and the file never grows past it.
// Mutant (make mutate, issue 20): the region computed as Size/Jobs*BlockSize*BlockSize
// wrote far past Size (it once filled /dev/shm) and no test counted the bytes.
func TestMeasureWritesExactlySize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := Params{Size: 4 << 20, BlockSize: 1 << 20, Jobs: 2, Duration: time.Minute}
	path := filepath.Join(dir, "measure")
	tp, err := MeasureFile(context.Background(), path, p, 0)
	if errors.Is(err, ErrNoDirect) {
		t.Skipf("%s refuses O_DIRECT", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tp.WriteBytes != p.Size || tp.ReadBytes != p.Size {
		t.Errorf("wrote %d, read %d bytes; want %d each", tp.WriteBytes, tp.ReadBytes, p.Size)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > p.Size {
		t.Errorf("test file is %d bytes, over Size %d", fi.Size(), p.Size)
	}
}
