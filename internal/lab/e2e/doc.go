// Package e2e brings the virtual rack (internal/lab/rack: QEMU guests behind Redfish and IPMI
// virtual BMCs in a network namespace) up with the real binaries, as an ops engineer
// would: `provision net apply`, `provision serve` in the namespace, `provision up`. Its
// test asserts the end-to-end behaviour of issue 7; its benchmark (make bench-e2e) times
// `up` for one node and for three. It holds no code outside its tests.
package e2e
