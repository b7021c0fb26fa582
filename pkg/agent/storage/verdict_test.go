package storage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// TestMinText: a profile minimum is shown as "≥ N MB/s"; none (0 or below) as measured.
// Mutants (make mutate, storage.go minText): `min <= 0` made `<` or negated.
func TestMinText(t *testing.T) {
	t.Parallel()
	for min, want := range map[float64]string{0: "measured", -1: "measured", 0.4: "≥ 0 MB/s", 2000: "≥ 2000 MB/s"} {
		if got := minText(min); got != want {
			t.Errorf("minText(%v) = %q, want %q", min, got, want)
		}
	}
}

// TestRateAgainstMinimum: a throughput below the profile's minimum fails naming both,
// one at or above it passes, and without a minimum any figure passes. Mutants (make
// mutate, storage.go rate): the minimum's comparisons.
func TestRateAgainstMinimum(t *testing.T) {
	t.Parallel()
	p := Params{Jobs: 4}
	for _, tc := range []struct {
		v, min float64
		want   check.Status
	}{
		{v: 999, min: 1000, want: check.Fail},
		{v: 1000, min: 1000, want: check.Pass},
		{v: 1500, min: 1000, want: check.Pass},
		{v: 5, min: 0, want: check.Pass},
	} {
		r := rate("read", tc.v, 8<<30, 4*time.Second, tc.min, p)
		if r.Status != tc.want {
			t.Errorf("read %v MB/s against minimum %v: %s, want %s", tc.v, tc.min, r.Status, tc.want)
		}
		if tc.want == check.Fail && !strings.Contains(r.Message, "sequential read 999 MB/s is below the profile's minimum 1000 MB/s") {
			t.Errorf("failure message %q does not name the figures", r.Message)
		}
		if !strings.Contains(r.Observed, "8192 MiB in 4.0s, 4 jobs") {
			t.Errorf("observed %q, want the bytes, time and jobs", r.Observed)
		}
	}
}

// TestBufferedReadWarnsOnlyForSlowNFS: a single buffered reader below half the O_DIRECT
// read warns on an NFS mount (readahead), not at half or above, not on a local
// filesystem, not when the mount is unknown or nothing was read. Mutants (make mutate,
// storage.go bufferedResult): each term of the warning's condition.
func TestBufferedReadWarnsOnlyForSlowNFS(t *testing.T) {
	t.Parallel()
	nfs := Mount{FSType: "nfs4", Device: "10.0.0.5:/export", Point: "/data"}
	local := Mount{FSType: "ext4", Device: "/dev/nvme0n1p1", Point: "/data"}
	tp := func(direct, buffered int64) Throughput {
		return Throughput{ReadBytes: direct << 20, ReadTime: time.Second, BufferedBytes: buffered << 20, BufferedTime: time.Second}
	}
	for _, tc := range []struct {
		name  string
		t     Throughput
		m     Mount
		found bool
		want  check.Status
	}{
		{name: "nfs, a third", t: tp(3000, 1000), m: nfs, found: true, want: check.Warn},
		{name: "nfs, exactly half", t: tp(2000, 1000), m: nfs, found: true, want: check.Pass},
		{name: "nfs, close", t: tp(1000, 900), m: nfs, found: true, want: check.Pass},
		{name: "local, a third", t: tp(3000, 1000), m: local, found: true, want: check.Pass},
		{name: "mount unknown", t: tp(3000, 1000), m: nfs, found: false, want: check.Pass},
		{name: "no O_DIRECT read", t: tp(0, 0), m: nfs, found: true, want: check.Pass},
	} {
		r := bufferedResult(tc.t, tc.m, tc.found, Options{})
		if r.Status != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, r.Status, r.Message, tc.want)
		}
		if r.Status == check.Warn && !strings.Contains(r.Message, "readahead") {
			t.Errorf("%s: warning %q does not point at readahead", tc.name, r.Message)
		}
	}
}

// TestProfileTestSizeOverrides: a profile's test_size_mib replaces the agent's test size
// (the write figure says how much it wrote). Mutants (make mutate, storage.go
// checkMount): `e.TestSizeMiB > 0` made `>=` (a zero size) or negated.
func TestProfileTestSizeOverrides(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mib  int
		want string
	}{
		{mib: 3, want: "(3 MiB in "},
		{mib: 0, want: "(4 MiB in "}, // the agent's own size
	} {
		dir := t.TempDir()
		rs := Check(context.Background(), []expect.Storage{{Mount: dir, TestSizeMiB: tc.mib}},
			Options{Params: Params{Size: 4 << 20, Jobs: 1}, NoBuffered: true})
		var write *check.Result
		for i := range rs {
			if rs[i].Name == "storage."+dir+".write" {
				write = &rs[i]
			}
		}
		if write == nil {
			t.Fatalf("test_size_mib %d: no write result in %+v", tc.mib, rs)
		}
		if write.Status == check.Fail && strings.Contains(write.Observed, "O_DIRECT refused") {
			t.Skipf("%s refuses O_DIRECT: run with TMPDIR on a disk", dir)
		}
		if !strings.Contains(write.Observed, tc.want) {
			t.Errorf("test_size_mib %d: write observed %q, want %q", tc.mib, write.Observed, tc.want)
		}
	}
}
