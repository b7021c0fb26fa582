package tftp

import (
	"errors"
	"flag"
	"maps"
	"sync/atomic"
	"testing"
)

// The suite has two kinds of tests. Fast ones (fast) call the code directly or answer
// the server themselves, so they fail as soon as an answer is wrong: they run one after
// the other (in file order: wire_linux_test.go, whose test waits for answers on the
// wire, comes after the ones that call the code), and all of them end before any network
// test begins (Go resumes parallel tests only after the sequential ones). Network tests
// (network) talk UDP to a server through clients that wait out a loaded machine (seconds
// per packet, many tries), so a broken server makes them wait minutes before they fail.
// Under -failfast (gremlins runs every mutant with it) a network test is not begun once
// a fast test has failed, as -failfast does for every test not yet started: the run
// fails at once instead of waiting out the clients.

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

// shutdown stops s at the end of the test: transfers still in flight (a test that
// failed midway, or a broken server) are ended first, so Shutdown does not wait out
// their retries (TestShutdownWaitsOutTransfers tests that wait).
func shutdown(t *testing.T, s *Server) {
	t.Helper()
	t.Cleanup(func() {
		s.mu.Lock()
		ports := maps.Clone(s.ports)
		s.mu.Unlock()
		for _, p := range ports {
			p.mu.Lock()
			for _, x := range p.xfers {
				p.finish(x, errors.New("test over"))
			}
			p.mu.Unlock()
		}
		s.Shutdown()
	})
}
