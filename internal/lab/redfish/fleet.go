package redfish

import (
	"fmt"
	"net"
	"sync"
)

// Fleet is many virtual BMCs in one process, each on its own loopback address
// (127.1.x.y), all with certificates from one CA.
type Fleet struct {
	CA   *CA
	BMCs []*BMC
}

// LoopbackAddr is the address of the i-th BMC of a fleet: 127.1.0.1, 127.1.0.2, ...
// Linux routes all of 127.0.0.0/8 to lo, so these need no setup.
func LoopbackAddr(i int) net.IP {
	return net.IPv4(127, byte(1+i/(250*250)), byte(i/250%250), byte(i%250+1))
}

// StartFleet starts n BMCs; cfg(i) gives each its config (Addr and CA are filled in).
func StartFleet(n int, cfg func(i int) Config) (*Fleet, error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	f := &Fleet{CA: ca, BMCs: make([]*BMC, n)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		c := cfg(i)
		if c.Addr == "" {
			c.Addr = net.JoinHostPort(LoopbackAddr(i).String(), "0")
		}
		c.CA = ca
		f.BMCs[i] = New(c)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f.BMCs[i].Start()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.BMCs[i] = nil
			f.Close()
			return nil, fmt.Errorf("BMC %d of %d: %w", i, n, err)
		}
	}
	return f, nil
}

// Close stops every BMC.
func (f *Fleet) Close() {
	var wg sync.WaitGroup
	for _, b := range f.BMCs {
		if b == nil || b.srv == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); b.Close() }()
	}
	wg.Wait()
}

// Counts sums the counters of every BMC.
func (f *Fleet) Counts() Counts {
	var t Counts
	for _, b := range f.BMCs {
		c := b.Counts()
		t.Requests += c.Requests
		t.Connections += c.Connections
		t.Logins += c.Logins
		t.FailedLogins += c.FailedLogins
		t.Logouts += c.Logouts
		t.PowerOn += c.PowerOn
		t.ForceOff += c.ForceOff
		t.GracefulShutdown += c.GracefulShutdown
		t.ForceRestart += c.ForceRestart
		t.GracefulRestart += c.GracefulRestart
		t.PowerCycle += c.PowerCycle
		t.BootOverrides += c.BootOverrides
		t.ManagerResets += c.ManagerResets
		t.Unavailable += c.Unavailable
	}
	return t
}
