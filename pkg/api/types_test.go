package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/state"
)

// TestDetailOfGolden holds `provision report -o json` to its shape: the stored report
// (pkg/check/testdata/report.json, as an agent sends it) comes back with its checks and
// without the hardware inventory, as before server and agent shared one report type.
func TestDetailOfGolden(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "pkg", "check", "testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/detail.json")
	if err != nil {
		t.Fatal(err)
	}
	n := state.Node{Name: "gpu-a01-01", Phase: "failed", Reason: "net.storage.mtu", Run: 1, Attempt: 1,
		ReportAt: time.Date(2026, 5, 1, 12, 30, 1, 0, time.UTC), Report: raw}
	got, err := json.MarshalIndent(DetailOf(n), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, '\n'); !bytes.Equal(got, want) {
		t.Errorf("node detail JSON changed:\n got %s\nwant %s", got, want)
	}
}
