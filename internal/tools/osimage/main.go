// Command osimage builds the lab's OS image (make image) with internal/lab/osimage and
// prints where it is: Debian bookworm from Debian packages only, node-agent and its unit,
// a raw GPT disk (BIOS + UEFI) compressed with zstd, cached by content under -cache.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/racklift/racklift/internal/lab/osimage"
	"github.com/racklift/racklift/templates"
)

func main() {
	cache := flag.String("cache", ".cache", "cache directory; the image goes to CACHE/image")
	agent := flag.String("agent", "bin/node-agent", "node-agent binary for /usr/local/bin/node-agent")
	unit := flag.String("unit", "", "node-agent systemd unit (default: the embedded templates/systemd/node-agent.service)")
	apt := flag.String("apt-sources", "", "apt sources file for mmdebstrap (default: this machine's Debian sources)")
	quiet := flag.Bool("q", false, "print only the image's path")
	flag.Parse()
	if err := run(*cache, *agent, *unit, *apt, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "osimage:", err)
		os.Exit(1)
	}
}

func run(cache, agent, unitFile, apt string, quiet bool) error {
	var unit []byte
	var err error
	if unitFile != "" {
		unit, err = os.ReadFile(unitFile)
	} else {
		unit, err = templates.FS.ReadFile("systemd/node-agent.service")
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := osimage.Config{Cache: cache, Agent: agent, Unit: unit, AptSources: apt, Log: os.Stderr}
	if quiet {
		cfg.Log = nil
	}
	img, err := osimage.Build(ctx, cfg)
	if err != nil {
		return err
	}
	if quiet {
		fmt.Println(img.Path)
		return nil
	}
	how := fmt.Sprintf("built in %.0f s", img.BuildSeconds)
	if img.Cached {
		how = "cached"
	}
	link := osimage.Link(cache)
	fmt.Printf("image   %s (%s)\n", img.Path, how)
	fmt.Printf("link    %s -> %s\n", link, filepath.Base(img.Path))
	fmt.Printf("sha256  %s (raw, %s.sha256)\n", img.SHA256, link)
	fmt.Printf("size    %d MiB raw, %d MiB zstd; kernel %s; root UUID %s\n",
		img.Size>>20, img.CompressedSize>>20, img.Kernel, img.RootUUID)
	return nil
}
