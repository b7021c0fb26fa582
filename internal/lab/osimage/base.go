package osimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Suite is the Debian release the image is built from.
const Suite = "bookworm"

// Packages go into the image on top of mmdebstrap's minbase variant (Essential and apt).
// To add one: append it here (docs/image.md); the next make image rebuilds the base.
var Packages = []string{
	"systemd", "systemd-sysv", "udev", "dbus", // init, device manager, bus for networkd/hostnamectl
	"linux-image-amd64", "initramfs-tools", "zstd", // Debian's kernel; zstd for its initramfs
	"kmod", "iproute2", "e2fsprogs", // modules, ip, fsck/resize2fs for the root
}

// dpkg leaves out documentation, manual pages and translations: the image is a server's
// root, and each MB is streamed to every node.
var dpkgExcludes = []string{
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/doc/*",
	"path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/locale/*",
	"path-exclude=/usr/share/info/*",
}

// mmdebstrapArgs are mmdebstrap's options (without suite, output and sources): with the
// hook's content, the suite and the sources' content they make the base's cache key.
func mmdebstrapArgs(hook string) []string {
	args := []string{"--variant=minbase", "--mode=root", "--format=tar",
		"--include=" + strings.Join(Packages, ",")}
	for _, d := range dpkgExcludes {
		args = append(args, "--dpkgopt="+d)
	}
	// The kernel, udev, kmod and zstd each trigger an initramfs build, minutes apiece
	// under load: update-initramfs is diverted to true while packages install and the
	// customize hook builds the initramfs once.
	return append(args,
		`--essential-hook=chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && ln -s /bin/true "$1/usr/sbin/update-initramfs"`,
		"--customize-hook="+hook+` "$1"`)
}

// baseKey identifies the base's content: what mmdebstrap is told, the customize hook,
// the suite and the apt sources; editing this file elsewhere does not rebuild it.
func baseKey(aptSources []byte) string {
	return hashOf(append(mmdebstrapArgs("HOOK"), "suite", Suite, "hook", embedded("files/customize.sh"),
		"sources", string(aptSources))...)
}

// buildBase runs mmdebstrap into the tarball out (atomically: a failed run leaves nothing).
func buildBase(ctx context.Context, out, aptSources string, log io.Writer) error {
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return fmt.Errorf("osimage: mmdebstrap not found (run scripts/install-deps as root: scripts/packages/image.txt)")
	}
	hook, err := os.CreateTemp(filepath.Dir(out), "customize-*.sh")
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	defer os.Remove(hook.Name())
	if _, err := hook.WriteString(embedded("files/customize.sh")); err != nil {
		hook.Close()
		return fmt.Errorf("osimage: %w", err)
	}
	hook.Close()
	if err := os.Chmod(hook.Name(), 0o755); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	tmp := out + ".partial.tar"
	defer os.Remove(tmp)
	args := append(mmdebstrapArgs(hook.Name()), Suite, tmp, aptSources)
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	// Cancelled: SIGTERM lets mmdebstrap unmount /proc, /sys and /dev from its chroot and
	// remove its temporary tree (SIGKILL would leave both behind).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	var tail bytes.Buffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("osimage: mmdebstrap %s (sources %s): %w\n%s", Suite, aptSources, err, lastLines(tail.String(), 20))
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	// One base is enough: older ones (another package list) are 600 MB each.
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "base-*.tar"))
	for _, o := range old {
		if o != out {
			os.Remove(o)
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
