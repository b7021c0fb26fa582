// Command guest-kernel fills the guest kernel cache (make guest-kernel): it downloads and
// unpacks Debian's amd64 kernel for QEMU test guests and prints where it is.
package main

import (
	"flag"
	"fmt"
	"github.com/racklift/racklift/pkg/initramfs"
	"os"
)

func main() {
	cache := flag.String("cache", ".cache", "cache directory")
	flag.Parse()
	k, err := initramfs.GuestKernel(*cache)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guest-kernel:", err)
		os.Exit(1)
	}
	fmt.Printf("kernel %s\nvmlinuz %s\nmodules %s\n", k.Version, k.Vmlinuz, k.Modules)
}
