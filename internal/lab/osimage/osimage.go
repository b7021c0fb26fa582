// Package osimage builds the lab's OS image (make image) from Debian packages only: a
// raw GPT disk holding Debian bookworm (systemd, the Debian kernel, systemd-networkd),
// node-agent and its systemd unit, bootable on UEFI (GRUB at the removable path
// EFI/BOOT/BOOTX64.EFI) and BIOS (GRUB in a BIOS boot partition), compressed with zstd.
//
// It builds in two cached stages, nothing mounted:
//
//   - base: mmdebstrap's root tree as a tarball, keyed by the package list, the apt
//     sources and this package's base inputs (about 80 s and a few hundred MB of
//     downloads from the Debian mirror; rebuilt only when those change);
//   - image: the base plus node-agent, its unit and the image's configuration, made into
//     an ext4 file system with mkfs.ext4 -d, placed with an ESP (mtools) into a GPT disk
//     (sgdisk), keyed by the base key, the agent binary, the unit and this package's
//     sources. A second build with the same inputs only checks that the files exist.
//
// Outputs in Cache/image: racklift-lab-<key>.raw.zst, .raw.zst.sha256 (the sha256 of the
// RAW image, what a deploy verifies), .json (the manifest) and the stable links
// racklift-lab.raw.zst(.sha256|.json) to the newest build.
package osimage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// The builder's own inputs: a change to any of them is a new image (and to
// mmdebstrap's arguments or files/customize.sh a new base: baseKey).
//
//go:embed osimage.go base.go disk.go files
var sources embed.FS

// Name prefixes every file this package writes under Cache/image.
const Name = "racklift-lab"

// Config says what goes into the image.
type Config struct {
	Cache string // cache directory; the image goes to Cache/image
	Agent string // the node-agent binary for /usr/local/bin/node-agent
	Unit  []byte // node-agent's systemd unit (templates/systemd/node-agent.service)
	// AptSources is an apt sources file (one-line .list or deb822 .sources) for
	// mmdebstrap; empty: the host's own (HostAptSources).
	AptSources string
	Log        io.Writer // progress; nil: discarded
}

// Image is a built (or cached) image.
type Image struct {
	Path           string   `json:"-"`    // Cache/image/racklift-lab-<key>.raw.zst
	Name           string   `json:"name"` // racklift-lab-<key>
	Key            string   `json:"key"`
	SHA256         string   `json:"sha256"` // of the raw image, as it lands on a disk
	Size           int64    `json:"size"`   // raw bytes
	CompressedSize int64    `json:"compressed_size"`
	RootUUID       string   `json:"root_uuid"` // ext4 UUID of the root partition (PARTLABEL root)
	Kernel         string   `json:"kernel"`    // the kernel release installed
	Packages       []string `json:"packages"`
	BuildSeconds   float64  `json:"build_seconds"`
	Cached         bool     `json:"-"` // true when nothing had to be built
}

// Link is the stable path of the newest image in cache (a symlink).
func Link(cache string) string { return filepath.Join(cache, "image", Name+".raw.zst") }

// Build returns the image for cfg, building what the cache lacks. It needs root (the
// root tree's owners and device nodes), mmdebstrap and the tools in
// scripts/packages/image.txt.
func Build(ctx context.Context, cfg Config) (*Image, error) {
	start := time.Now()
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.AptSources == "" {
		s, err := HostAptSources()
		if err != nil {
			return nil, err
		}
		cfg.AptSources = s
	}
	if len(cfg.Unit) == 0 {
		return nil, errors.New("osimage: Config.Unit (the node-agent systemd unit) is empty")
	}
	dir := filepath.Join(cfg.Cache, "image")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("osimage: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	aptSrc, err := os.ReadFile(cfg.AptSources)
	if err != nil {
		return nil, fmt.Errorf("osimage: apt sources: %w", err)
	}
	baseKey := baseKey(aptSrc)
	agentSum, err := fileSHA256(cfg.Agent)
	if err != nil {
		return nil, fmt.Errorf("osimage: node-agent binary: %w (run make build)", err)
	}
	key := hashOf("image", baseKey, agentSum, string(cfg.Unit), allEmbedded())[:16]
	img := &Image{Name: Name + "-" + key, Key: key}
	img.Path = filepath.Join(dir, img.Name+".raw.zst")
	if m, err := readManifest(img.Path); err == nil {
		m.Path, m.Cached = img.Path, true
		if err := linkLatest(dir, m.Name); err != nil {
			return nil, err
		}
		return m, nil
	}

	base := filepath.Join(dir, "base-"+baseKey[:16]+".tar")
	if _, err := os.Stat(base); err != nil {
		fmt.Fprintf(cfg.Log, "osimage: building the Debian base with mmdebstrap (%s, about 80 s or more under load)\n", Suite)
		t := time.Now()
		if err := buildBase(ctx, base, cfg.AptSources, cfg.Log); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Log, "osimage: base %s in %.0f s\n", filepath.Base(base), time.Since(t).Seconds())
	}

	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, fmt.Errorf("osimage: %w", err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(cfg.Log, "osimage: assembling %s\n", img.Name)
	if err := assemble(ctx, tmp, base, cfg, img); err != nil {
		return nil, err
	}
	img.Packages = Packages
	img.BuildSeconds = time.Since(start).Seconds()
	if err := writeManifest(img); err != nil {
		return nil, err
	}
	if err := linkLatest(dir, img.Name); err != nil {
		return nil, err
	}
	prune(dir, img.Name, 3)
	return img, nil
}

// HostAptSources is the apt sources file this machine uses for Debian (deb822 first).
func HostAptSources() (string, error) {
	for _, p := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			return p, nil
		}
	}
	return "", errors.New("osimage: no apt sources at /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list (give one with -apt-sources)")
}

func readManifest(path string) (*Image, error) {
	b, err := os.ReadFile(strings.TrimSuffix(path, ".raw.zst") + ".json")
	if err != nil {
		return nil, err
	}
	var m Image
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() != m.CompressedSize {
		return nil, fmt.Errorf("osimage: %s missing or truncated", path)
	}
	if _, err := os.Stat(path + ".sha256"); err != nil {
		return nil, err
	}
	return &m, nil
}

func writeManifest(img *Image) error {
	// sha256sum -c format, named for the raw image the digest is of.
	sum := fmt.Sprintf("%s  %s.raw\n", img.SHA256, img.Name)
	if err := atomicfile.WriteFile(img.Path+".sha256", []byte(sum), 0o644); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	b, _ := json.MarshalIndent(img, "", "  ")
	if err := atomicfile.WriteFile(strings.TrimSuffix(img.Path, ".raw.zst")+".json", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	return nil
}

// linkLatest points the stable names at the image name.
func linkLatest(dir, name string) error {
	for _, ext := range []string{".raw.zst", ".raw.zst.sha256", ".json"} {
		link := filepath.Join(dir, Name+ext)
		tmp := link + ".tmp"
		os.Remove(tmp)
		if err := os.Symlink(name+ext, tmp); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
		if err := os.Rename(tmp, link); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
	}
	return nil
}

// prune keeps the newest keep images (other worktrees' tests may still use an older one).
func prune(dir, current string, keep int) {
	ms, _ := filepath.Glob(filepath.Join(dir, Name+"-*.json"))
	type img struct {
		name string
		mod  time.Time
	}
	var imgs []img
	for _, m := range ms {
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		imgs = append(imgs, img{strings.TrimSuffix(filepath.Base(m), ".json"), st.ModTime()})
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].mod.After(imgs[j].mod) })
	for i, im := range imgs {
		if i < keep || im.name == current {
			continue
		}
		for _, ext := range []string{".raw.zst", ".raw.zst.sha256", ".json"} {
			os.Remove(filepath.Join(dir, im.name+ext))
		}
	}
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("osimage: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("osimage: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func embedded(name string) string {
	b, err := sources.ReadFile(name)
	if err != nil {
		panic(err) // the embed directive names it
	}
	return string(b)
}

func allEmbedded() string {
	var sb strings.Builder
	fs.WalkDir(sources, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			sb.WriteString(p + "\n" + embedded(p))
		}
		return nil
	})
	return sb.String()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
