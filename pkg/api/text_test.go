package api

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

var textNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func textNodes() []NodeStatus {
	return []NodeStatus{
		{Name: "a", Phase: lifecycle.Ready, Run: 1, Attempt: 1, EnteredAt: textNow.Add(-90 * time.Second), Checks: &Counts{Pass: 8},
			LastEvent: &state.Event{Kind: "lifecycle.ready"}},
		{Name: "b", Phase: lifecycle.Failed, Run: 2, Attempt: 3, Reason: "net.storage.mtu (observed 1500, expected 9000)", Checks: &Counts{Pass: 7, Fail: 1},
			LastEvent: &state.Event{Kind: "agent.report.fail"}},
		{Name: "c", Phase: lifecycle.PXE, LastEvent: &state.Event{Kind: "dhcp.offer", Detail: "10.0.0.3"}},
	}
}

func TestStatusText(t *testing.T) {
	t.Parallel()
	s := NewStatusReport("serve at unix:///x", textNodes())
	if s.Counts[lifecycle.Ready] != 1 || s.Counts[lifecycle.Failed] != 1 || s.Counts[lifecycle.PXE] != 1 {
		t.Errorf("counts %v", s.Counts)
	}
	var b bytes.Buffer
	if err := s.WriteText(&b, textNow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 || lines[0] != "3 nodes: pxe 1, ready 1, failed 1  (from serve at unix:///x)" {
		t.Fatalf("status:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"a ", "ready", "1 (run 1)", "1m30s", "8 pass, 0 warn, 0 fail", "lifecycle.ready"},
		{"b ", "failed", "3 (run 2)", "7 pass, 0 warn, 1 fail", "net.storage.mtu (observed 1500"}, // a failed node shows its reason
		{"c ", "pxe", "-", "dhcp.offer: 10.0.0.3"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+2], w) {
				t.Errorf("row %d %q lacks %q", i, lines[i+2], w)
			}
		}
	}
	if e := NewStatusReport("x", nil); e.Nodes == nil || PhaseCounts(nil) != "0 nodes: " {
		t.Errorf("no nodes: %+v %q", e, PhaseCounts(nil))
	}
}

func TestSelectStatus(t *testing.T) {
	t.Parallel()
	got := SelectStatus(textNodes(), []*inventory.Node{{Name: "c"}, {Name: "new"}, {Name: "a"}})
	var names []string
	for _, n := range got {
		names = append(names, n.Name+":"+string(n.Phase))
	}
	if strings.Join(names, " ") != "a:ready c:pxe new:enrolled" || !strings.Contains(got[2].Reason, "no state for this node") {
		t.Errorf("selected %v, %q", names, got[len(got)-1].Reason)
	}
}

func TestReportText(t *testing.T) {
	t.Parallel()
	d := NodeDetail{NodeStatus: textNodes()[1]}
	if err := d.NoReport(); err == nil || err.Error() != "node b has not reported yet (phase failed): net.storage.mtu (observed 1500, expected 9000)" {
		t.Errorf("NoReport = %v", err)
	}
	d.Report = &check.Report{Agent: "v1", Time: textNow, Results: []check.Result{
		{Name: "gpu.count", Status: check.Pass, Observed: "8", Expected: "8"},
		{Name: "storage./data.read", Status: check.Warn, Message: "read below goal"},
		{Name: "net.storage.mtu", Status: check.Fail, Observed: "1500", Expected: "9000", Message: "set MTU 9000 on the switch port"},
	}}
	var b bytes.Buffer
	if d.NoReport() != nil || d.WriteReport(&b) != nil {
		t.Fatal("a node with a report")
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "node b: failed (net.storage.mtu") || !strings.Contains(lines[1], "by agent v1: 7 pass, 0 warn, 1 fail") ||
		!strings.HasPrefix(lines[4], "FAIL    net.storage.mtu") || !strings.HasPrefix(lines[5], "WARN") || !strings.HasPrefix(lines[6], "PASS") {
		t.Errorf("report:\n%s", b.String())
	}
}

func TestEventText(t *testing.T) {
	t.Parallel()
	e := state.Event{Seq: 7, Node: "a", Kind: "bmc.power.ok", Time: textNow, Detail: "cycle && <ok>"}
	var b bytes.Buffer
	WriteEventLine(&b, e, true)
	if b.String() != `{"seq":7,"node":"a","kind":"bmc.power.ok","time":"2026-03-01T12:00:00Z","detail":"cycle && <ok>"}`+"\n" {
		t.Errorf("JSON line %q", b.String())
	}
	b.Reset()
	WriteEventLine(&b, e, false)
	if f := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\t"); len(f) != 6 || f[0] != "7" || f[3] != "bmc.power.ok" || f[4] != "-" || f[5] != "cycle && <ok>" {
		t.Errorf("text line %q", b.String())
	}
	b.Reset()
	WriteEvents(&b, []state.Event{e, {Seq: 8, Node: "a", Kind: "lifecycle.ready", Phase: "ready"}})
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "SEQ") || !strings.Contains(lines[2], "ready") {
		t.Errorf("table:\n%s", b.String())
	}
	if err := FollowEvents(context.Background(), &Local{Dir: "/x"}, "", 0, 0, nil); err == nil || !strings.Contains(err.Error(), "--follow needs a running serve") {
		t.Errorf("follow on the state: %v", err)
	}
}

func TestUpResultText(t *testing.T) {
	t.Parallel()
	r := &UpResult{Decisions: []lifecycle.Decision{{Node: "a", Action: lifecycle.Start, Phase: lifecycle.Enrolled}, {Node: "b", Action: lifecycle.Refused, Detail: "node b is protected (in use)"}}}
	var b bytes.Buffer
	r.WriteText(&b)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE  ACTION") || !strings.Contains(lines[2], "refused") {
		t.Errorf("decisions:\n%s", b.String())
	}
	r.followed, r.Nodes, r.Seconds = true, textNodes()[:2], 61.7
	b.Reset()
	r.WriteText(&b)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 4 || lines[0] != "2 nodes: ready 1, failed 1 in 1m1s" || !strings.Contains(lines[1], "REASON / LAST EVENT") {
		t.Errorf("final:\n%s", b.String())
	}
}

func TestReportTextDeploySection(t *testing.T) {
	t.Parallel()
	d := NodeDetail{NodeStatus: textNodes()[1]}
	d.Report = &check.Report{Agent: "v1", Time: textNow, Results: []check.Result{{Name: "gpu.count", Status: check.Pass}},
		Deploy: &check.DeployResult{Image: "debian-13", Device: "/dev/vda", Bytes: 2 << 30, Seconds: 10, MBps: 214.7,
			SHA256: "ab12", Error: "checksum mismatch for image debian-13 on /dev/vda: expected sha256 ab12, got cd34",
			Disks: []check.DiskChoice{{Device: "/dev/vda", SizeBytes: 20 << 30, Chosen: true, Why: "the only disk matching the hints"}}}}
	var b bytes.Buffer
	if err := d.WriteReport(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"deploy: image debian-13 on /dev/vda: 2147483648 bytes in 10.0s (215 MB/s), sha256 ab12 NOT verified",
		"deploy failed: checksum mismatch for image debian-13 on /dev/vda: expected sha256 ab12, got cd34",
		"/dev/vda  20.0 GiB", "yes", "the only disk matching the hints",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
