package osimage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/osimage"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/templates"
)

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// GuestMemoryMB is what a lab guest booting the image needs (docs/image.md).
	guestMemoryMB = 512
)

// The image `make image` builds boots from its own disk under QEMU, on UEFI (OVMF, the
// removable path) and on BIOS (SeaBIOS, core.img in the BIOS boot partition): systemd
// reaches multi-user.target and starts node-agent.service, whose daemon logs on the
// serial console. A second build with the same inputs comes from the cache.
func TestImageBootsFromDisk(t *testing.T) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mmdebstrap", "zstd", "sgdisk", "mkfs.ext4", "mkfs.fat", "mcopy", "grub-mkimage", "debugfs", "qemu-system-x86_64")
	testenv.NeedFile(t, ovmfCode)
	agent := filepath.Join(testenv.Bin(t), "node-agent")
	testenv.NeedFile(t, agent)
	unit, err := templates.FS.ReadFile("systemd/node-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	cfg := osimage.Config{Cache: testenv.Cache(), Agent: agent, Unit: unit, Log: testWriter{t}}
	img, err := osimage.Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %d MiB raw, %d MiB zstd, kernel %s", img.Name, img.Size>>20, img.CompressedSize>>20, img.Kernel)
	start := time.Now()
	again, err := osimage.Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Path != img.Path || again.SHA256 != img.SHA256 || time.Since(start) > 10*time.Second {
		t.Errorf("second build: cached=%v path=%s sha256=%s in %s, want the cached %s at once",
			again.Cached, again.Path, again.SHA256, time.Since(start), img.Path)
	}
	if l, err := os.Readlink(osimage.Link(testenv.Cache())); err != nil || l != filepath.Base(img.Path) {
		t.Errorf("stable link %s -> %q (%v), want %s", osimage.Link(testenv.Cache()), l, err, filepath.Base(img.Path))
	}

	for _, tc := range []struct {
		name, code, vars string
	}{
		{name: "uefi", code: ovmfCode, vars: ovmfVars},
		{name: "bios"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			disk := filepath.Join(dir, "disk.raw")
			if got := unpack(t, img.Path, disk); got != img.SHA256 {
				t.Fatalf("raw image sha256 %s, manifest says %s", got, img.SHA256)
			}
			// What the deploy writes: the node's identity in /etc/racklift. The agent
			// reaches no server here (QEMU's user network, port 9): it starts, logs
			// and keeps its report in the spool.
			writeRootFiles(t, disk, testIdentity(t, "image-"+tc.name))
			start := time.Now()
			g := vm.StartT(t, vm.Config{Name: "image-" + tc.name, Dir: dir, MemoryMB: guestMemoryMB,
				Firmware: tc.code, FirmwareVars: tc.vars, Disk: disk, DiskBootIndex: 1,
				ExtraArgs: []string{"-netdev", "user,id=un0", "-device", "virtio-net-pci,netdev=un0,romfile="}})
			for _, step := range []struct {
				what string
				re   *regexp.Regexp
			}{
				{"GRUB ran the embedded configuration", regexp.MustCompile(`racklift lab image: booting Debian`)},
				{"the kernel found the root by UUID", regexp.MustCompile(`Linux version \S+`)},
				// systemd colours unit names on the console: \S* skips the escapes.
				{"node-agent.service started", regexp.MustCompile(`Started \S*node-agent\.service`)},
				{"systemd reached multi-user.target", regexp.MustCompile(`Reached target \S*multi-user\.target`)},
				{"the daemon logged", regexp.MustCompile(`level=(INFO|WARN|ERROR) msg=`)},
			} {
				if _, err := g.WaitForLine(step.re, 4*time.Minute); err != nil {
					t.Fatalf("%s: %v", step.what, err)
				}
				t.Logf("%s after %.0f s", step.what, time.Since(start).Seconds())
			}
		})
	}
}

// unpack decompresses the image to dst and returns the raw bytes' sha256.
func unpack(t *testing.T, src, dst string) string {
	t.Helper()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("zstd", "-dc", src)
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), r); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("zstd -dc %s: %v", src, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// testIdentity is what the deploy hands the installed system (identity.Bundle's files):
// a certificate for node from a throwaway CA, its key, the agent API URL and CA pin.
func testIdentity(t *testing.T, node string) map[string]string {
	t.Helper()
	ca, err := pki.LoadOrCreate(t.TempDir(), []string{"10.0.2.2"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(node)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueClient(node, csr.PublicKey, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := identity.Bundle{Node: node, APIURL: "https://10.0.2.2:9", CAPin: ca.Fingerprint(), CertPEM: pki.CertPEM(cert), KeyPEM: keyPEM}
	files := map[string]string{}
	for _, f := range b.Files() {
		files[f.Path] = string(f.Data)
	}
	return files
}

// writeRootFiles writes files into the root file system (partition 3) of a raw disk
// with debugfs, at the partition's offset: nothing mounted.
func writeRootFiles(t *testing.T, disk string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	cmds := ""
	made := map[string]bool{}
	i := 0
	for path, data := range files {
		if d := filepath.Dir(path); !made[d] {
			cmds += "mkdir " + d + "\n"
			made[d] = true
		}
		local := filepath.Join(dir, fmt.Sprint(i))
		i++
		if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		cmds += fmt.Sprintf("write %s %s\nsif %s mode 0100600\n", local, path, path)
	}
	script := filepath.Join(dir, "cmds")
	if err := os.WriteFile(script, []byte(cmds), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%s?offset=%d", disk, osimage.RootOffset)
	out, err := exec.Command("debugfs", "-w", "-f", script, dev).CombinedOutput()
	if err != nil || regexp.MustCompile(`(?i)error|not found|invalid`).Match(out) {
		t.Fatalf("debugfs -w -f %s %s: %v\n%s", script, dev, err, out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
