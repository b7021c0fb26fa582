// Command agent-initrd builds the agent ramdisk (make agent-initrd): Debian's guest
// kernel from the cache (downloaded once) and an initramfs with busybox, the kernel's
// modules and node-agent, written next to each other in -out.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/racklift/racklift/pkg/agent/ramdisk"
	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/initramfs"
)

func main() {
	cache := flag.String("cache", ".cache", "cache directory for the guest kernel")
	agent := flag.String("agent", "bin/node-agent", "node-agent binary to put in the ramdisk")
	out := flag.String("out", "artifacts/agent", "directory for vmlinuz and initrd.gz")
	flag.Parse()
	if err := run(*cache, *agent, *out); err != nil {
		fmt.Fprintln(os.Stderr, "agent-initrd:", err)
		os.Exit(1)
	}
}

func run(cache, agent, out string) error {
	k, err := initramfs.GuestKernel(cache)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	initrd := filepath.Join(out, "initrd.gz")
	if err := ramdisk.Build(k, agent, initrd); err != nil {
		return err
	}
	kernel := filepath.Join(out, "vmlinuz")
	if err := copyFile(k.Vmlinuz, kernel); err != nil {
		return err
	}
	st, _ := os.Stat(initrd)
	fmt.Printf("kernel  %s (%s)\ninitrd  %s (%d MiB)\n", kernel, k.Version, initrd, st.Size()>>20)
	fmt.Printf("boot with: %s=<url> %s=<name> %s=<one-time bootstrap> %s=sha256:<hex> [%s=poweroff]\n",
		ramdisk.ArgAPI, ramdisk.ArgNode, ramdisk.ArgBootstrap, ramdisk.ArgCA, ramdisk.ArgAfter)
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := atomicfile.New(dst, 0o644)
	if err != nil {
		return err
	}
	defer o.Abort()
	if _, err := io.Copy(o, in); err != nil {
		return err
	}
	return o.Commit()
}
