//go:build !linux

package tftp

import "syscall"

// Elsewhere there is no FORCE variant: the plain options, within the kernel's limits,
// so the operator CLI builds on macOS (serve itself runs on Linux).
const (
	soRcvBufForce = syscall.SO_RCVBUF
	soSndBufForce = syscall.SO_SNDBUF
)
