// Package e2e brings the virtual rack (internal/lab/rack: QEMU guests behind Redfish and IPMI
// virtual BMCs in a network namespace) up with the real binaries, as an ops engineer
// would: `provision net apply`, `provision serve` in the namespace, `provision up`. Its
// test asserts the end-to-end behaviour of issue 7. The rig (rig.go) is its one non-test
// file so that the benchmark (internal/bench/e2e, make bench-e2e) drives the same rack.
package e2e
