// Package initramfs builds the gzip'd newc cpio initramfs racklift's agent ramdisk boots
// from (static busybox, an /init script, host binaries with their libraries, kernel
// modules in dependency order) and fetches Debian's stock amd64 kernel into a cache.
// The product's ramdisk (pkg/agent/ramdisk) and the lab's QEMU guests (internal/lab/vm)
// both use it.
package initramfs
