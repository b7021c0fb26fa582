package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

// sgdiskImage makes a GPT image file of size MiB with sgdisk (Debian's gdisk): a 8 MiB
// ESP and a root partition filling the rest.
func sgdiskImage(t *testing.T, mib int64) string {
	t.Helper()
	testenv.NeedCommand(t, "sgdisk")
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, mib<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-c", "1:esp", "-n", "2:0:0", "-t", "2:8300", "-c", "2:root", p)
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestFixGPTMovesBackupAndGrowsRoot(t *testing.T) {
	for _, grow := range []bool{false, true} {
		t.Run(map[bool]string{false: "backup only", true: "grow root"}[grow], func(t *testing.T) {
			p := sgdiskImage(t, 32)
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// The image lands on a larger disk.
			if err := os.Truncate(p, 96<<20); err != nil {
				t.Fatal(err)
			}
			if out, _ := exec.Command("sgdisk", "-v", p).CombinedOutput(); strings.Contains(string(out), "No problems found") {
				t.Fatalf("sgdisk finds no problem before the fix: the test proves nothing\n%s", out)
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			g, err := FixGPT(f, 96<<20, grow)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if out := run(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
				t.Fatalf("sgdisk -v after FixGPT:\n%s", out)
			}
			info := run(t, "sgdisk", "-i", "2", p)
			// 96 MiB = 196608 sectors; backup entries take 32 sectors and the header one,
			// so the last usable is 196574 and the root ends on the MiB before it.
			wantLast := "Last sector: 65502"
			if grow {
				wantLast = "Last sector: 194559"
			}
			if !strings.Contains(info, wantLast) {
				t.Errorf("partition 2 after FixGPT(grow=%v): want %q in\n%s", grow, wantLast, info)
			}
			last, _ := g.Last()
			if last.Number != 2 || last.Name != "root" {
				t.Errorf("Last() = %+v, want partition 2 root", last)
			}
			esp := g.Partitions[0]
			if !esp.IsESP() || esp.IsBIOSBoot() {
				t.Errorf("partition 1 = %+v, want the ESP", esp)
			}
			after, _ := os.ReadFile(p)
			// Nothing of the partitions' contents changed: only the GPT sectors.
			if string(after[34*512:32<<20-34*512]) != string(before[34*512:32<<20-34*512]) {
				t.Error("FixGPT changed bytes outside the partition tables")
			}
		})
	}
}

func TestReadGPTRefusesNonGPT(t *testing.T) {
	p := filepath.Join(t.TempDir(), "raw")
	os.WriteFile(p, make([]byte, 1<<20), 0o600)
	f, _ := os.Open(p)
	defer f.Close()
	if _, err := ReadGPT(f); err == nil || !strings.Contains(err.Error(), "no GPT") {
		t.Fatalf("err = %v", err)
	}
}

func TestPartitionPath(t *testing.T) {
	for in, want := range map[string]string{"/dev/vda": "/dev/vda2", "/dev/nvme0n1": "/dev/nvme0n1p2", "/dev/loop3": "/dev/loop3p2", "/dev/sdb": "/dev/sdb2"} {
		if got := PartitionPath(in, 2); got != want {
			t.Errorf("PartitionPath(%s) = %s, want %s", in, got, want)
		}
	}
}
