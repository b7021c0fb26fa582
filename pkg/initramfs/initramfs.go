package initramfs

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// Busybox is the static busybox the initramfs is built around (Debian busybox-static).
var Busybox = "/bin/busybox"

// File is a host file placed in the guest.
type File struct {
	Host  string
	Guest string // absolute path in the guest; empty for a binary: /bin/<base name>
}

// Initramfs describes a gzip'd cpio initramfs: busybox with its applets, an /init shell
// script, files, host binaries with the shared libraries ldd lists, and kernel modules
// with their dependencies.
type Initramfs struct {
	Kernel *Kernel // where Modules come from; nil when none are needed
	// Init is the shell script run as /init. Unless NoPreamble is set, it runs after a
	// preamble that mounts /proc, /sys, /dev, /run and /tmp, brings lo up and insmods
	// Modules in dependency order. End it with `poweroff -f`; if /init exits the kernel
	// panics and (with the launcher's panic=-1 and -no-reboot) QEMU exits.
	Init       string
	NoPreamble bool
	Files      []File
	Contents   map[string][]byte // guest path → contents (config files, expect files)
	Binaries   []File            // host executables; their ldd libraries come along
	Modules    []string          // module names, e.g. 8021q, virtio_net
}

// Preamble is what runs before Initramfs.Init.
const Preamble = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /run /tmp /var/run
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ip link set lo up
if [ -f /etc/racklift/modules ]; then
  for m in $(cat /etc/racklift/modules); do insmod "$m" || echo "racklift-init: insmod $m failed"; done
fi
echo "racklift-init: preamble done"
`

type entry struct {
	mode uint32
	data []byte
	rdev [2]uint32
}

// Build writes the initramfs to out.
func (b *Initramfs) Build(out string) error {
	ents := map[string]*entry{}
	mkdirs := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := ents[d]; !ok {
				ents[d] = &entry{mode: modeDir | 0o755}
			}
		}
	}
	add := func(p string, e *entry) {
		p = path.Clean("/" + p)
		mkdirs(p)
		ents[p] = e
	}
	addHost := func(host, guest string) error {
		data, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		mode := uint32(0o644)
		if st, err := os.Stat(host); err == nil && st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		add(guest, &entry{mode: modeFile | mode, data: data})
		return nil
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/etc", "/root", "/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
		add(d, &entry{mode: modeDir | 0o755})
	}
	add("/dev/console", &entry{mode: modeChr | 0o600, rdev: [2]uint32{5, 1}})
	add("/dev/null", &entry{mode: modeChr | 0o666, rdev: [2]uint32{1, 3}})

	// busybox and its applets
	if err := addHost(Busybox, "/bin/busybox"); err != nil {
		return err
	}
	list, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("initramfs: %s --list: %w", Busybox, err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			add("/bin/"+a, &entry{mode: modeLink | 0o777, data: []byte("busybox")})
		}
	}

	for _, f := range b.Files {
		if err := addHost(f.Host, f.Guest); err != nil {
			return err
		}
	}
	for p, c := range b.Contents {
		add(p, &entry{mode: modeFile | 0o644, data: c})
	}
	for _, f := range b.Binaries {
		g := f.Guest
		if g == "" {
			g = "/bin/" + filepath.Base(f.Host)
		}
		if err := addHost(f.Host, g); err != nil {
			return err
		}
		libs, err := sharedLibs(f.Host)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if err := addHost(l, l); err != nil {
				return err
			}
		}
	}
	if len(b.Modules) > 0 {
		if b.Kernel == nil {
			return fmt.Errorf("initramfs: modules %v asked for but no Kernel given", b.Modules)
		}
		mods, err := resolveModules(b.Kernel, b.Modules)
		if err != nil {
			return err
		}
		var order []string
		for _, m := range mods {
			data, err := readModule(filepath.Join(b.Kernel.Modules, m))
			if err != nil {
				return err
			}
			g := "/lib/modules/" + b.Kernel.Version + "/" + strings.TrimSuffix(strings.TrimSuffix(m, ".xz"), ".zst")
			add(g, &entry{mode: modeFile | 0o644, data: data})
			order = append(order, g)
		}
		add("/etc/racklift/modules", &entry{mode: modeFile | 0o644, data: []byte(strings.Join(order, "\n") + "\n")})
	}
	init := b.Init
	if !b.NoPreamble {
		init = Preamble + init
	}
	add("/init", &entry{mode: modeFile | 0o755, data: []byte(init)})

	names := make([]string, 0, len(ents))
	for p := range ents {
		names = append(names, p)
	}
	sort.Strings(names) // parents before children

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := atomicfile.New(out, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	cw := &cpioWriter{w: zw}
	for _, p := range names {
		e := ents[p]
		if err := cw.write(strings.TrimPrefix(p, "/"), e.mode, e.data, e.rdev[0], e.rdev[1]); err != nil {
			return err
		}
	}
	if err := cw.close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

var lddRE = regexp.MustCompile(`(?m)(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibs lists the absolute library paths ldd prints for a binary; none for a static one.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") || strings.Contains(string(out), "statically linked") {
			return nil, nil
		}
		return nil, fmt.Errorf("initramfs: ldd %s: %w: %s", bin, err, out)
	}
	var libs []string
	for _, m := range lddRE.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

func modName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// resolveModules returns module paths (relative to k.Modules) in load order: dependencies
// first, from modules.dep. Modules built into the kernel are left out.
func resolveModules(k *Kernel, names []string) ([]string, error) {
	dep, err := os.ReadFile(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w (GuestKernel runs depmod)", err)
	}
	deps := map[string][]string{}
	byName := map[string]string{}
	for _, line := range strings.Split(string(dep), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		byName[modName(mod)] = mod
		deps[mod] = strings.Fields(rest)
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(k.Modules, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		for _, d := range deps[m] {
			visit(d)
		}
		order = append(order, m)
	}
	for _, n := range names {
		key := strings.ReplaceAll(n, "-", "_")
		m, ok := byName[key]
		if !ok {
			if builtin[key] {
				continue
			}
			return nil, fmt.Errorf("initramfs: kernel %s has no module %q (not in modules.dep or modules.builtin)", k.Version, n)
		}
		visit(m)
	}
	return order, nil
}

// readModule returns a module's bytes, decompressed: busybox insmod loads plain .ko only.
func readModule(p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".zst"):
		tool = "zstd"
	default:
		return os.ReadFile(p)
	}
	out, err := exec.Command(tool, "-dc", p).Output()
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s -dc %s: %w", tool, p, err)
	}
	return out, nil
}
