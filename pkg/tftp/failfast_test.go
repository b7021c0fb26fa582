package tftp

import (
	"flag"
	"sync/atomic"
	"testing"
)

// The suite has two kinds of tests. Fast ones (fast) call the code directly and never
// wait on a client: they run one after the other, and all of them end before any
// network test begins (Go resumes parallel tests only after the sequential ones). Network
// tests (network) talk UDP to a server through clients that wait out a loaded machine
// (seconds per packet, many tries), so a broken server makes them wait minutes before
// they fail. Under -failfast (gremlins runs every mutant with it) a network test is not
// begun once a fast test has failed, as -failfast does for every test not yet started:
// the run fails at once instead of waiting out the clients.

var fastFailed atomic.Bool

// fast marks a test that runs sequentially and records its failure for network.
func fast(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			fastFailed.Store(true)
		}
	})
}

// network makes t a parallel network test; under -failfast it is skipped when a fast
// test has failed.
func network(t *testing.T) {
	t.Helper()
	t.Parallel()
	if f := flag.Lookup("test.failfast"); f != nil && f.Value.String() == "true" && fastFailed.Load() {
		t.Skip("not begun: a fast test failed and -failfast is set")
	}
}
