package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/pkg/check"
)

func TestWhereRunning(t *testing.T) {
	for _, tc := range []struct{ stage, want string }{
		{stage: "ramdisk", want: check.BootRamdisk},
		{stage: "installed", want: check.BootDisk},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			var r check.Report
			whereRunning(tc.stage).stamp(&r)
			if r.BootSource != tc.want || r.Kernel == "" {
				t.Errorf("stage %s: boot source %q, kernel %q; want %q and this kernel's release", tc.stage, r.BootSource, r.Kernel, tc.want)
			}
		})
	}
}

func TestPrettyName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "os-release")
	os.WriteFile(p, []byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"), 0o644)
	if got := prettyName(p); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("prettyName: %q", got)
	}
	if got := prettyName(filepath.Join(dir, "none")); got != "" {
		t.Errorf("prettyName of a missing file: %q, want empty", got)
	}
}
