package tftp

import (
	"testing"
	"time"
)

// TestConfigDefaults: a zero Config field takes its documented default, a set one is
// kept, and blksize and windowsize caps are bounded (65464, the protocol's largest
// block; maxWindow). Mutants (make mutate, server.go New and orDefault): the defaults'
// arithmetic and the zero check.
func TestConfigDefaults(t *testing.T) {
	fast(t)
	type got struct {
		timeout                 time.Duration
		retries, blksize, win   int
		maxTransfers, perClient int
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want got
	}{
		{name: "zero", cfg: Config{},
			want: got{timeout: 2 * time.Second, retries: 5, blksize: 1468, win: DefaultWindow, maxTransfers: DefaultMaxTransfers, perClient: DefaultMaxPerClient}},
		{name: "set", cfg: Config{Timeout: time.Minute, Retries: 7, MaxBlockSize: 512, Window: 4, MaxTransfers: 3, MaxPerClient: 2},
			want: got{timeout: time.Minute, retries: 7, blksize: 512, win: 4, maxTransfers: 3, perClient: 2}},
		{name: "past the caps", cfg: Config{MaxBlockSize: 70000, Window: 1000},
			want: got{timeout: 2 * time.Second, retries: 5, blksize: 65464, win: maxWindow, maxTransfers: DefaultMaxTransfers, perClient: DefaultMaxPerClient}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Root = t.TempDir()
			s, err := New(tc.cfg)
			must(t, err)
			t.Cleanup(func() { s.root.Close() })
			if g := (got{s.timeout, s.retries, s.blksize, s.window, s.cfg.MaxTransfers, s.cfg.MaxPerClient}); g != tc.want {
				t.Errorf("New(%+v):\n got %+v\nwant %+v", tc.cfg, g, tc.want)
			}
		})
	}
	if _, err := New(Config{Root: t.TempDir() + "/missing"}); err == nil {
		t.Error("New with a missing root: no error")
	}
}
