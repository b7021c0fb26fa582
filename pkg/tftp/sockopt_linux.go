package tftp

import "syscall"

// Linux lets root raise socket buffers past the kernel's limits.
const (
	soRcvBufForce = syscall.SO_RCVBUFFORCE
	soSndBufForce = syscall.SO_SNDBUFFORCE
)
