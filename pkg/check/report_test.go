package check

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// goldenReport is the report behind testdata/report.json. The golden bytes were written
// by the agent's report type before server and agent shared this one, so the test holds
// the wire document to what agents already send.
func goldenReport() *Report {
	return &Report{
		Node:  "gpu-a01-01",
		Time:  time.Date(2026, 5, 1, 12, 30, 0, 250000000, time.UTC),
		Agent: "v1.2.3",
		Hardware: &Hardware{
			Hostname: "gpu-a01-01",
			CPU:      CPU{Model: "Intel(R) Xeon(R) Platinum 8480+", Sockets: 2, Cores: 112, Threads: 224},
			MemoryKB: 2113683456,
			Disks: []Disk{{Name: "nvme0n1", SizeBytes: 3840755982336, Model: "SAMSUNG MZQL27T6HBLA-00A07", Serial: "S6CKNE0T"},
				{Name: "sda", SizeBytes: 480103981056}},
			NICs: []NIC{{Name: "enp25s0f0np0", MAC: "b8:3f:d2:a1:01:20", SpeedMbps: 200000, MTU: 9000, State: "up", Driver: "mlx5_core", PCI: "0000:19:00.0"},
				{Name: "eno1", MAC: "b8:3f:d2:a1:01:01", MTU: 1500, State: "down"}},
			PCI: []PCIDevice{{Address: "0000:19:00.0", Vendor: "0x15b3", Device: "0x1021", Class: "0x020000", Driver: "mlx5_core"},
				{Address: "0000:1b:00.0", Vendor: "0x10de", Device: "0x2330", Class: "0x030200"}},
			GPUs: []GPU{{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-5c1e0d2a", PCI: "0000:1b:00.0"}},
		},
		Results: []Result{
			{Name: "gpu.count", Status: Pass, Observed: "8", Expected: "8", Duration: 1500 * time.Millisecond},
			{Name: "net.storage.mtu", Status: Fail, Observed: "1500", Expected: "9000", Message: "the switch port drops jumbo frames: set MTU 9000 on it"},
			{Name: "gpu.pcie", Status: Warn, Observed: "Gen4 x16", Expected: "Gen5 x16", Message: "idle link trained down"},
		},
		Failed: true,
	}
}

func TestReportWireBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		report *Report
		golden string
	}{
		{name: "full", report: goldenReport(), golden: "testdata/report.json"},
		{name: "minimal", report: &Report{Node: "n1", Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Agent: "dev", Results: []Result{}},
			golden: "testdata/report-minimal.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(tc.report, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got = append(got, '\n'); !bytes.Equal(got, want) {
				t.Errorf("report JSON changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestParseReportKeepsEveryField decodes the golden report and encodes it again: nothing
// the agent sends is lost on the way through the server's parse (a check's seconds are
// shown, not read back).
func TestParseReportKeepsEveryField(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hardware == nil || r.Hardware.NICs[0].SpeedMbps != 200000 || r.Hardware.GPUs[0].UUID != "GPU-5c1e0d2a" || !r.Time.Equal(goldenReport().Time) {
		t.Fatalf("parsed %+v", r)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	json.Unmarshal(raw, &a)
	json.Unmarshal(again, &b)
	for _, m := range []map[string]any{a, b} {
		for _, res := range m["results"].([]any) {
			delete(res.(map[string]any), "seconds")
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip lost fields:\n sent %v\nparsed %v", a, b)
	}
}

func TestParseReportRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{name: "not JSON", body: `{"node":`, want: "agent report: unexpected end"},
		{name: "no results", body: `{"node":"n1","failed":false}`, want: `no "results" list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseReport([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseReport(%s) = %v, want %q", tc.body, err, tc.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		report Report
		pass   bool
		first  string // Sorted()[0].Name
		reason string
	}{
		{name: "golden", report: *goldenReport(), pass: false, first: "net.storage.mtu",
			reason: "net.storage.mtu (observed 1500, expected 9000): the switch port drops jumbo frames: set MTU 9000 on it"},
		{name: "warnings pass", report: Report{Results: []Result{{Name: "b", Status: Pass}, {Name: "a", Status: Warn}}}, pass: true, first: "a"},
		{name: "failed flag without a failed check", report: Report{Failed: true, Results: []Result{{Name: "a", Status: Pass}}},
			pass: false, first: "a", reason: "the agent marked its report failed"},
		{name: "failure without observation", report: Report{Results: []Result{{Name: "z", Status: Fail, Message: "gone"}, {Name: "y", Status: Fail, Expected: "1"}}},
			pass: false, first: "y", reason: "y (observed nothing, expected 1); z: gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.report.Pass(); got != tc.pass {
				t.Errorf("Pass() = %v, want %v", got, tc.pass)
			}
			if got := tc.report.Sorted()[0].Name; got != tc.first {
				t.Errorf("Sorted()[0] = %s, want %s", got, tc.first)
			}
			if got := tc.report.FailureReason(); got != tc.reason {
				t.Errorf("FailureReason() = %q, want %q", got, tc.reason)
			}
		})
	}
}

func TestNewReport(t *testing.T) {
	t.Parallel()
	r := NewReport("n1", "v9", nil, nil)
	if r.Node != "n1" || r.Agent != "v9" || r.Results == nil || r.Failed || r.Time.IsZero() || r.Time.Location() != time.UTC {
		t.Fatalf("%+v", r)
	}
	if r := NewReport("n1", "v9", nil, []Result{{Name: "a", Status: Fail}}); !r.Failed {
		t.Fatal("a failed result did not fail the report")
	}
}
