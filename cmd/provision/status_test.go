package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

type instantPower struct{}

func (instantPower) PXECycle(context.Context, lifecycle.Target) error { return nil }

// seedState writes what a serve run leaves behind: gpu-a01-01 ready, gpu-a01-02 failed
// validation, gpu-a02-01 in pxe. It returns the open store (as serve holds it).
func seedState(t *testing.T, dir string) *state.Bolt {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := lifecycle.New(s, instantPower{}, provisioner.NewCredentials(s, nil, time.Hour, 0), lifecycle.Config{})
	ts := []lifecycle.Target{
		{Name: "gpu-a01-01", MAC: "3c:ec:ef:a1:01:10", BMC: "redfish 10.10.8.11:443"},
		{Name: "gpu-a01-02", MAC: "3c:ec:ef:a1:02:10", BMC: "redfish 10.10.8.12:443"},
		{Name: "gpu-a02-01", MAC: "c4:cb:e1:a2:01:10", BMC: "redfish 10.10.8.21:443"},
	}
	if _, err := m.Up(ts, lifecycle.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Tick(context.Background())
	m.Drain()
	m.Report("gpu-a01-01", []byte(`{"node":"gpu-a01-01","agent":"v1","results":[{"name":"gpu.count","status":"pass","observed":"8","expected":"8"}]}`), true, "")
	m.Report("gpu-a01-02", []byte(`{"node":"gpu-a01-02","agent":"v1","failed":true,"results":[
		{"name":"gpu.count","status":"pass","observed":"8","expected":"8"},
		{"name":"storage./data.read","status":"warn","message":"read below goal"},
		{"name":"net.storage.mtu","status":"fail","observed":"1500","expected":"9000","message":"set MTU 9000 on the switch port"}]}`), false, "net.storage.mtu (observed 1500, expected 9000)")
	return s
}

func TestStateCommandsWithoutServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seedState(t, dir).Close()

	out, errOut, code := runCLI(t, "status", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	for _, want := range []string{"3 nodes: pxe 1, ready 1, failed 1", "serve is not running", "gpu-a01-02  failed", "net.storage.mtu", "1 pass, 1 warn, 1 fail"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// Selectors resolve against the inventory.
	out, _, code = runCLI(t, "status", "--state-dir", dir, "-i", repo("inventory/examples/site"), "rack=a02", "-o", "json")
	var st api.StatusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("status rack=a02 -o json: %d %v\n%s", code, err, out)
	}
	if len(st.Nodes) != 4 || st.Nodes[0].Name != "gpu-a02-01" || st.Nodes[0].Phase != lifecycle.PXE || st.Counts[lifecycle.Enrolled] != 3 {
		t.Errorf("rack=a02: %+v", st)
	}

	out, _, code = runCLI(t, "report", "gpu-a01-02", "--state-dir", dir)
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) < 6 || !strings.HasPrefix(lines[4], "FAIL") || !strings.Contains(lines[4], "set MTU 9000") || !strings.HasPrefix(lines[5], "WARN") {
		t.Errorf("report: failed check not first:\n%s", out)
	}
	out, _, _ = runCLI(t, "report", "gpu-a01-02", "--state-dir", dir, "-o", "json")
	var d api.NodeDetail
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Report == nil || len(d.Report.Results) != 3 || d.Phase != lifecycle.Failed {
		t.Errorf("report -o json: %v %+v", err, d)
	}
	if strings.Contains(out, `"token"`) || strings.Contains(out, `"hash"`) {
		t.Error("report output carries the token record")
	}
	_, errOut, code = runCLI(t, "report", "gpu-a02-01", "--state-dir", dir)
	if code != 1 || !strings.Contains(errOut, "has not reported yet (phase pxe)") {
		t.Errorf("report before the agent reported: %d %q", code, errOut)
	}

	out, _, code = runCLI(t, "events", "gpu-a01-01", "--state-dir", dir, "-o", "json")
	var evs []state.Event
	if err := json.Unmarshal([]byte(out), &evs); err != nil || code != 0 || len(evs) < 4 {
		t.Fatalf("events: %d %v %s", code, err, out)
	}
	kinds := []string{}
	for _, e := range evs {
		if e.Node != "gpu-a01-01" {
			t.Errorf("events of gpu-a01-01 include %s's", e.Node)
		}
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "up.started bmc.power.issued bmc.power.ok") || !strings.HasSuffix(got, "agent.report.pass lifecycle.ready") {
		t.Errorf("event kinds = %s", got)
	}
	out, _, _ = runCLI(t, "events", "gpu-a01-01", "--state-dir", dir, "--since", jsonNum(evs[len(evs)-2].Seq), "-o", "json")
	var tail []state.Event
	if json.Unmarshal([]byte(out), &tail); len(tail) != 1 || tail[0].Seq != evs[len(evs)-1].Seq {
		t.Errorf("events --since: %s", out)
	}
	_, errOut, code = runCLI(t, "events", "nope", "--state-dir", dir)
	if code != 1 || !strings.Contains(errOut, "node nope") {
		t.Errorf("events of an unknown node: %d %q", code, errOut)
	}

	_, errOut, code = runCLI(t, "status", "--state-dir", t.TempDir())
	if code != 6 || !strings.Contains(errOut, "start `provision serve`") {
		t.Errorf("status with no serve and no state: %d %q", code, errOut)
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestStateCommandsThroughServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := seedState(t, dir)
	defer s.Close()
	tok, err := provisioner.LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := provisioner.ListenUnix(api.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.ControlHandler(api.ControlConfig{Store: s, Token: tok})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	out, errOut, code := runCLI(t, "status", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "from serve at unix://") || !strings.Contains(out, "3 nodes: pxe 1, ready 1, failed 1") {
		t.Errorf("status through serve: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "report", "gpu-a01-01", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "PASS    gpu.count") {
		t.Errorf("report through serve: %d\n%s", code, out)
	}
}
