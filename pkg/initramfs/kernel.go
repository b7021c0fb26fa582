package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel is Debian's stock amd64 kernel unpacked into the cache (never the host's /boot).
type Kernel struct {
	Version string // e.g. 6.1.0-56-amd64
	Root    string // the unpacked package: boot/, lib/modules/<version>/
	Vmlinuz string
	Modules string // lib/modules/<version> under Root, with modules.dep
}

var dependsRE = regexp.MustCompile(`Depends:\s*(linux-image-[0-9][^\s|]*-amd64)\b`)

// GuestKernel returns Debian's current amd64 guest kernel, downloading the versioned
// linux-image package that linux-image-amd64 depends on and unpacking it into
// cacheDir/guest-kernel/<version>/ the first time. Concurrent callers (test packages
// running in parallel) wait on a lock file instead of downloading twice.
func GuestKernel(cacheDir string) (*Kernel, error) {
	base := filepath.Join(cacheDir, "guest-kernel")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(base, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	// A kernel already unpacked is used without asking apt (offline reruns).
	if k := cachedKernel(base); k != nil {
		return k, nil
	}
	pkg, err := kernelPackage()
	if err != nil {
		return nil, err
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	dir := filepath.Join(base, version)
	tmp, err := os.MkdirTemp(base, "unpack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	download := func(pkg string) ([]byte, error) {
		dl := exec.Command("apt-get", "download", "-q", pkg)
		dl.Dir = tmp
		return dl.CombinedOutput()
	}
	if out, err := download(pkg); err != nil {
		// Stale package lists name a version the mirror no longer has: refresh once.
		if uout, uerr := exec.Command("apt-get", "update", "-q").CombinedOutput(); uerr != nil {
			return nil, fmt.Errorf("apt-get download %s: %w: %s; apt-get update: %v: %s", pkg, err, tail(out), uerr, tail(uout))
		}
		if pkg, err = kernelPackage(); err != nil {
			return nil, err
		}
		version = strings.TrimPrefix(pkg, "linux-image-")
		dir = filepath.Join(base, version)
		if out, err := download(pkg); err != nil {
			return nil, fmt.Errorf("apt-get download %s: %w: %s", pkg, err, tail(out))
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d .deb files in %s", pkg, len(debs), tmp)
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.Command("dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg -x %s: %w: %s", debs[0], err, tail(out))
	}
	// The package ships no modules.dep (its postinst runs depmod): make it here.
	if out, err := exec.Command("depmod", "-b", root, version).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("depmod -b %s %s: %w: %s", root, version, err, tail(out))
	}
	if err := os.Rename(root, dir); err != nil {
		return nil, err
	}
	k := kernelAt(dir, version)
	if k == nil {
		return nil, fmt.Errorf("%s: no boot/vmlinuz-%s or modules.dep after unpacking %s", dir, version, pkg)
	}
	return k, nil
}

func cachedKernel(base string) *Kernel {
	ents, _ := os.ReadDir(base)
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		if e.IsDir() && strings.HasSuffix(e.Name(), "-amd64") {
			if k := kernelAt(filepath.Join(base, e.Name()), e.Name()); k != nil {
				return k
			}
		}
	}
	return nil
}

func kernelAt(dir, version string) *Kernel {
	k := &Kernel{
		Version: version,
		Root:    dir,
		Vmlinuz: filepath.Join(dir, "boot", "vmlinuz-"+version),
		Modules: filepath.Join(dir, "lib", "modules", version),
	}
	for _, f := range []string{k.Vmlinuz, filepath.Join(k.Modules, "modules.dep")} {
		if _, err := os.Stat(f); err != nil {
			return nil
		}
	}
	return k
}

// kernelPackage asks apt which versioned image linux-image-amd64 points at, refreshing the
// package lists first when there are none.
func kernelPackage() (string, error) {
	ask := func() (string, error) {
		out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").CombinedOutput()
		if m := dependsRE.FindSubmatch(out); m != nil {
			return string(m[1]), nil
		}
		if err != nil {
			return "", fmt.Errorf("apt-cache depends linux-image-amd64: %w: %s", err, tail(out))
		}
		return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image-*-amd64: %s", tail(out))
	}
	pkg, err := ask()
	if err == nil {
		return pkg, nil
	}
	if out, uerr := exec.Command("apt-get", "update", "-q").CombinedOutput(); uerr != nil {
		return "", fmt.Errorf("%v; apt-get update: %w: %s", err, uerr, tail(out))
	}
	return ask()
}

// lockFile takes an exclusive flock, waiting for other processes that hold it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// tail is the last lines of a command's output, for error messages.
func tail(b []byte) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
