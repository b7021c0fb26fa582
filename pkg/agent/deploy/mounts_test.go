package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMounts(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		want          []Mount
	}{
		{name: "one", cmdline: "console=ttyS0 racklift.mount=/dev/vda:/scratch panic=10", want: []Mount{{"/dev/vda", "/scratch"}}},
		{name: "two", cmdline: "racklift.mount=/dev/nvme0n1:/raid,/dev/sdb1:/data/x/", want: []Mount{{"/dev/nvme0n1", "/raid"}, {"/dev/sdb1", "/data/x"}}},
		{name: "refused", cmdline: "racklift.mount=vda:/scratch,/dev/vda:relative,/dev/vda:/,/dev/vdb", want: nil},
		{name: "none", cmdline: "console=ttyS0", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseMounts(tc.cmdline)
			if len(got) != len(tc.want) {
				t.Fatalf("ParseMounts(%q) = %v, want %v", tc.cmdline, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("mount %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestMountUnitName(t *testing.T) {
	for dir, want := range map[string]string{
		"/scratch":       "scratch.mount",
		"/data/x":        `data-x.mount`,
		"/mnt/my-disk":   `mnt-my\x2ddisk.mount`,
		"/srv/a b":       `srv-a\x20b.mount`,
		"/raid/.hidden/": `raid-.hidden.mount`,
		"/.dot":          `\x2edot.mount`,
	} {
		got, err := mountUnitName(dir)
		if err != nil || got != want {
			t.Errorf("mountUnitName(%q) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if _, err := mountUnitName("/"); err == nil {
		t.Error("a mount unit for / was made")
	}
	// systemd's own escaping, where the tool is here.
	if _, err := exec.LookPath("systemd-escape"); err == nil {
		for _, dir := range []string{"/mnt/my-disk", "/srv/a b", "/data/x", "/raid/.hidden", "/.dot"} {
			out, err := exec.Command("systemd-escape", "--path", "--suffix=mount", dir).Output()
			got, _ := mountUnitName(dir)
			if err != nil || strings.TrimSpace(string(out)) != got {
				t.Errorf("%s: systemd-escape says %q (%v), we say %q", dir, out, err, got)
			}
		}
	}
}

// The units name the filesystem by UUID when there is one, are nofail, and
// local-fs.target wants every one of them.
func TestMountFiles(t *testing.T) {
	uuid := map[string]string{"/dev/vda": "0b8c2f3e-1111-4222-8333-944455556666"}
	files, err := MountFiles([]Mount{{"/dev/vda", "/scratch"}, {"/dev/vdc", "/data/x"}}, func(d string) string { return uuid[d] })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	for path, want := range map[string][]string{
		"/etc/systemd/system/scratch.mount":                          {"What=UUID=0b8c2f3e-1111-4222-8333-944455556666", "Where=/scratch", "Options=nofail"},
		"/etc/systemd/system/data-x.mount":                           {"What=/dev/vdc", "Where=/data/x", "Options=nofail"},
		"/etc/systemd/system/local-fs.target.d/racklift-mounts.conf": {"Wants=scratch.mount data-x.mount"},
	} {
		for _, w := range want {
			if !strings.Contains(got[path], w) {
				t.Errorf("%s lacks %q:\n%s", path, w, got[path])
			}
		}
	}
	if len(files) != 3 {
		t.Errorf("%d files, want 3", len(files))
	}
	if fs, _ := MountFiles(nil, FilesystemUUID); fs != nil {
		t.Errorf("no mounts gave files: %v", fs)
	}
}

// The UUID read from the superblock is the one mkfs.ext4 was given.
func TestFilesystemUUID(t *testing.T) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 not installed")
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "3f1e2d4c-5b6a-4789-8abc-def012345678"
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-U", want, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if got := FilesystemUUID(img); got != want {
		t.Errorf("FilesystemUUID = %q, want %q", got, want)
	}
	if got := FilesystemUUID(filepath.Join(t.TempDir(), "none")); got != "" {
		t.Errorf("FilesystemUUID of nothing = %q", got)
	}
}
