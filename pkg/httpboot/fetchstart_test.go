package httpboot

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/templates"
)

type oneNode struct{}

func (oneNode) NodeByIP(ip netip.Addr) (string, string, bool) {
	if ip.IsLoopback() {
		return "lab-01", "52:54:00:04:00:01", true
	}
	return "", "", false
}

// A node's download from the artifacts is announced when it starts, not only when it
// ends: a multi-GiB image takes minutes, and the lifecycle's deploying phase (and its
// timeout) starts with it. The start event comes while the body is still being sent.
func TestArtifactDownloadAnnouncedAtStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	image := filepath.Join(f.artifacts, "images", "big.raw")
	must(t, os.MkdirAll(filepath.Dir(image), 0o755))
	must(t, os.WriteFile(image, make([]byte, 32<<20), 0o644))
	ev := events.New(nil, nil)
	h, err := New(Config{Plans: fixed{f.plan}, Templates: templates.FS, Artifacts: f.artifacts, State: f.state, Events: ev, Nodes: oneNode{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := ev.Subscribe(ctx, 16)

	resp, err := http.Get(srv.URL + "/artifacts/images/big.raw")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub:
		if e.Kind != events.HTTPArtifactStart || e.Node != "lab-01" || e.Detail != "/artifacts/images/big.raw" {
			t.Fatalf("first event while the body is being read: %+v, want %s for lab-01", e, events.HTTPArtifactStart)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event while the download runs: its start is not announced")
	}
	io.Copy(io.Discard, resp.Body)
	select {
	case e := <-sub:
		if e.Kind != events.HTTPArtifact || e.Bytes != 32<<20 {
			t.Fatalf("event at the end: %+v, want %s with every byte", e, events.HTTPArtifact)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event at the end of the download")
	}
}
