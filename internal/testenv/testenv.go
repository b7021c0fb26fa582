// Package testenv decides whether a test that needs root, a network namespace or an
// outside program can run here. Under `make test` (RACKLIFT_INTEGRATION=1) a missing
// prerequisite fails the test, so CI can never pass by skipping; a developer running
// `go test` without it gets a skip that says what is missing.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Integration reports whether missing prerequisites must fail rather than skip.
func Integration() bool { return os.Getenv("RACKLIFT_INTEGRATION") == "1" }

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Integration() {
		t.Fatalf("prerequisite missing under RACKLIFT_INTEGRATION=1: "+format, args...)
	}
	t.Skipf("skipped: "+format+" (make test installs and requires it)", args...)
}

// NeedRoot requires root, for network namespaces, taps and raw sockets.
func NeedRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: needs root")
	}
	if os.Geteuid() != 0 {
		missing(t, "needs root")
	}
}

// NeedCommand requires programs on PATH (or in /usr/sbin) and returns their paths.
func NeedCommand(t testing.TB, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/lib/qemu"} {
				if _, serr := os.Stat(filepath.Join(dir, n)); serr == nil {
					p, err = filepath.Join(dir, n), nil
					break
				}
			}
		}
		if err != nil {
			missing(t, "needs %s on PATH", n)
			return nil
		}
		out = append(out, p)
	}
	return out
}

// NeedFile requires a file, e.g. a firmware image from a Debian package.
func NeedFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, "needs %s", path)
	}
}

// Slow skips in -short mode: QEMU boots and benchmarks-sized runs.
func Slow(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: slow")
	}
}

// Bin is the directory holding the built provision and node-agent binaries.
func Bin(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("RACKLIFT_BIN"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bin")
}

// Cache is where downloaded guest kernels and built initramfs images are kept between runs.
func Cache() string {
	if d := os.Getenv("RACKLIFT_CACHE"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".cache")
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
