package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEFIBootMgr puts an efibootmgr on PATH that logs its arguments and answers like
// the real one: a listing with BootOrder and an old racklift entry, and after -c the
// listing with the new entry (which the real one puts first in the order).
func fakeEFIBootMgr(t *testing.T) (logFile string) {
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >> ` + logFile + `
case "$1" in
  -c) printf 'BootCurrent: 0001\nBootOrder: 0005,0001,0002\nBoot0001* UEFI PXEv4\nBoot0002* UEFI Shell\nBoot0005* racklift\tHD(1,GPT,...)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n' ;;
  -q) ;;
  *) printf 'BootCurrent: 0001\nBootOrder: 0001,0003,0002\nBoot0001* UEFI PXEv4\nBoot0002* UEFI Shell\nBoot0003* racklift\tHD(1,GPT,...)\n' ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "efibootmgr"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return logFile
}

func TestBootEntryKeepsNetworkFirst(t *testing.T) {
	calls := fakeEFIBootMgr(t)
	efivars := t.TempDir()
	m := Machine{EFIVars: efivars}
	entry, err := m.bootEntry(context.Background(), "/dev/vda", 1)
	if err != nil {
		t.Fatal(err)
	}
	if entry != "Boot0005" {
		t.Fatalf("entry = %q, want Boot0005", entry)
	}
	b, _ := os.ReadFile(calls)
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{
		"",              // the listing
		"-q -b 0003 -B", // the old racklift entry removed
		`-c -d /dev/vda -p 1 -L racklift -l \EFI\BOOT\BOOTX64.EFI`,
		"-q -o 0001,0002,0005", // the old order (network first), the new entry last
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("efibootmgr calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Not booted with UEFI (no efivars): no entry, no call, no error.
	os.Remove(calls)
	m.EFIVars = filepath.Join(efivars, "absent")
	if entry, err := m.bootEntry(context.Background(), "/dev/vda", 1); entry != "" || err != nil {
		t.Fatalf("BIOS boot: %q, %v", entry, err)
	}
	if _, err := os.Stat(calls); err == nil {
		t.Error("efibootmgr was run on a machine that did not boot with UEFI")
	}
}
