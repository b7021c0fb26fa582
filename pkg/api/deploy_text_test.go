package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

func TestDeployInStatusAndReport(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("ab", 32)
	deploy := check.DeployResult{Image: "debian.raw.zst", Device: "/dev/vda", Bytes: 1 << 30, Seconds: 10, MBps: 107.4, SHA256: sha, Verified: true,
		Disks: []check.DiskChoice{
			{Device: "/dev/vda", SizeBytes: 4 << 30, Model: "QEMU HARDDISK", Chosen: true, Why: "smallest matching disk"},
			{Device: "/dev/sr0", SizeBytes: 1 << 30, Removable: true, Why: "removable\x1b[2J"},
		}}
	result, _ := json.Marshal(deploy)
	// The installed agent does not say where it runs: a deployed node's report is read as
	// the lifecycle reads it.
	diskReport, _ := json.Marshal(check.Report{Node: "a", Results: []check.Result{{Name: "gpu.count", Status: check.Pass}},
		OS: "Debian GNU/Linux 13 (trixie)", Kernel: "6.12.48-amd64"})
	n := state.Node{Name: "a", Phase: string(lifecycle.Ready), Run: 1, Attempt: 1, Report: diskReport, ReportAt: textNow,
		Deployed: &state.Deployed{Image: "debian.raw.zst", SHA256: sha, Device: "/dev/vda", Run: 1, At: textNow, Result: result}}

	s := NewStatusReport("serve", []NodeStatus{StatusOf(n), {Name: "b", Phase: lifecycle.Enrolled}})
	var b bytes.Buffer
	if err := s.WriteText(&b, textNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "BOOT") || !strings.Contains(lines[2], "ready     disk") || !strings.Contains(lines[3], "enrolled  -  ") {
		t.Errorf("status:\n%s", b.String())
	}
	js, _ := json.Marshal(s)
	for _, w := range []string{`"boot_source":"disk"`, `"deployed":{"image":"debian.raw.zst","sha256":"` + sha} {
		if !strings.Contains(string(js), w) {
			t.Errorf("status JSON lacks %s:\n%s", w, js)
		}
	}

	d := DetailOf(n)
	b.Reset()
	if err := d.WriteReport(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"boot source: disk, os Debian GNU/Linux 13 (trixie), kernel 6.12.48-amd64",
		"deploy: image debian.raw.zst onto /dev/vda: 1073741824 bytes in 10.0 s (107.4 MB/s), sha256 " + sha + " verified",
		"disks seen:",
		"/dev/vda  4.0 GiB  QEMU HARDDISK  -       yes     smallest matching disk",
		`/dev/sr0  1.0 GiB  -              -       no      removable\x1b[2J`,
		"PASS    gpu.count",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("report prints the node's escape sequence")
	}
	js, _ = json.Marshal(d)
	if !strings.Contains(string(js), `"deploy":{"image":"debian.raw.zst"`) || !strings.Contains(string(js), `"sha256_verified":true`) {
		t.Errorf("report JSON lacks the deploy:\n%s", js)
	}
}
