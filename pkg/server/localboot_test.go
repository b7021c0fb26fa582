package server

import (
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// A node whose disk holds the image the lifecycle verified gets the local-disk script
// from serve's HTTP; its undeployed sibling still gets its network boot.
func TestServeAnswersDeployedNodesLocal(t *testing.T) {
	t.Parallel()
	s, base, _, _ := startProvisioning(t, &countingPower{cycles: map[string]int{}})
	if _, err := s.core.Store.Update("lab-01", func(n *state.Node) ([]state.Event, error) {
		n.Phase, n.Run, n.Attempt = string(lifecycle.Ready), 1, 1
		n.Deployed = &state.Deployed{Image: "debian.raw.zst", SHA256: strings.Repeat("ab", 32), Run: 1, At: time.Now()}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	script, _ := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.11")
	if !strings.Contains(script, "lab-01 is installed: booting its local disk") || !strings.Contains(script, "sanboot --no-describe --drive 0x80") || strings.Contains(script, "kernel ") {
		t.Fatalf("deployed lab-01's script is not the local-disk one:\n%s", script)
	}
	script, _ = bootScript(t, base, "52:54:00:04:00:02", "127.0.0.12")
	if !strings.Contains(script, "kernel ") {
		t.Fatalf("undeployed lab-02's script has no network boot:\n%s", script)
	}
}
