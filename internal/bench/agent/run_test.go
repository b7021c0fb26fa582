package agent

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/agent/storage"
)

// Bad parameters are refused before any file is written or fio is started.
func TestRunRefusesBadParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    storage.Params
		want string
	}{
		{name: "smaller than a block per job", p: storage.Params{Size: 1 << 20, Jobs: 4, BlockSize: 1 << 20, Duration: time.Minute}, want: "--size is smaller than --jobs × 1 MiB"},
		{name: "under a second", p: storage.Params{Size: 8 << 20, Jobs: 2, BlockSize: 1 << 20, Duration: 500 * time.Millisecond}, want: "--time must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Run(context.Background(), "/nonexistent/fio", dir, tc.p, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

func TestFioBandwidth(t *testing.T) {
	out := []byte(`{"fio version":"fio-3.33","jobs":[{"jobname":"racklift-read","read":{"bw_bytes":1500000000},"write":{"bw_bytes":0}}]}`)
	if got, err := fioBandwidth(out, "read"); err != nil || got != 1500 {
		t.Fatalf("%v %v, want 1500 MB/s", got, err)
	}
	if _, err := fioBandwidth([]byte("fio: pid=1, err=22"), "read"); err == nil || !strings.Contains(err.Error(), "not the JSON expected") {
		t.Errorf("non-JSON: %v", err)
	}
}

func TestFioArgsMatchMeasureFile(t *testing.T) {
	p := storage.Params{Size: 32 << 20, Jobs: 2, BlockSize: 1 << 20, Duration: 2 * time.Minute}
	got := strings.Join(FioArgs("/d/f", "write", p, 16<<20), " ")
	for _, w := range []string{"--rw=write", "--bs=1048576", "--direct=1", "--ioengine=psync", "--iodepth=1", "--numjobs=2",
		"--size=16777216", "--offset_increment=16777216", "--end_fsync=1", "--runtime=120", "--filename=/d/f"} {
		if !strings.Contains(got+" ", w+" ") {
			t.Errorf("fio command %q lacks %s", got, w)
		}
	}
}
