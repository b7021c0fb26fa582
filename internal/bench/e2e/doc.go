// Package e2e holds `make bench-e2e`: `provision up` timed on the lab rack for one node
// and for three, with the real binaries, on the rig the end-to-end test uses
// (internal/lab/e2e). It needs root and QEMU; it holds no code outside its benchmark.
package e2e
