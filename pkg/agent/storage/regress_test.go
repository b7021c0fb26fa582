package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRunTimesTheSlowestJob: the group time is the slowest job's own time, as fio's
// group figure. Regression (issue 20): the fastest job's time made every read and
// write figure too high.
func TestRunTimesTheSlowestJob(t *testing.T) {
	t.Parallel()
	sleeps := []time.Duration{5 * time.Millisecond, 150 * time.Millisecond, 20 * time.Millisecond}
	boom := errors.New("boom")
	took, err := run(context.Background(), Params{Jobs: len(sleeps), Duration: time.Second}, func(j int, _ time.Time) error {
		time.Sleep(sleeps[j])
		if j == 2 {
			return boom
		}
		return nil
	})
	// At least the slowest job's 150 ms (the fastest's 5 ms was the regression); the
	// upper bound only catches a time counted from the wrong start, not a slow machine,
	// whose sleeps overshoot.
	if took < 150*time.Millisecond || took > time.Minute {
		t.Errorf("run took %v; want the slowest job's 150ms or more", took)
	}
	if !errors.Is(err, boom) {
		t.Errorf("run error = %v; want the failing job's", err)
	}
}

// TestMBIsTenToTheSixBytes: MB/s are fio's, 10^6 bytes per second (regression: MiB).
func TestMBIsTenToTheSixBytes(t *testing.T) {
	t.Parallel()
	tp := Throughput{
		WriteBytes: 3_000_000, WriteTime: 1500 * time.Millisecond,
		ReadBytes: 500_000_000, ReadTime: 250 * time.Millisecond,
		BufferedBytes: 1_000_000, BufferedTime: 0, // not run: no figure, no division by zero
	}
	for _, tc := range []struct {
		what      string
		got, want float64
	}{
		{what: "write", got: tp.WriteMBps(), want: 2},
		{what: "read", got: tp.ReadMBps(), want: 2000},
		{what: "buffered", got: tp.BufferedMBps(), want: 0},
	} {
		if tc.got < tc.want-1e-9 || tc.got > tc.want+1e-9 {
			t.Errorf("%s = %v MB/s, want %v", tc.what, tc.got, tc.want)
		}
	}
}
