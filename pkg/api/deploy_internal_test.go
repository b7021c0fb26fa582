package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/state"
)

// Tests for mutants `make mutate` found alive in pkg/api (issue 20); each was put back
// by hand and the test failed.

// TestDeployOf: provision report shows the report's own deploy section when it has one,
// else the one the record kept from the ramdisk's report, else none.
func TestDeployOf(t *testing.T) {
	t.Parallel()
	kept := check.DeployResult{Image: "debian.raw.zst", Device: "/dev/vda", Verified: true}
	raw, _ := json.Marshal(kept)
	withKept := state.Node{Deployed: &state.Deployed{Image: "debian.raw.zst", Result: raw}}
	own := &check.DeployResult{Image: "debian.raw.zst", Error: "no disk matches"}
	for _, tc := range []struct {
		name string
		n    state.Node
		r    *check.Report
		want *check.DeployResult
	}{
		{name: "the report's own", n: withKept, r: &check.Report{Deploy: own}, want: own},
		{name: "kept from the ramdisk", n: withKept, r: &check.Report{}, want: &kept},
		{name: "no report yet, kept", n: withKept, r: nil, want: &kept},
		{name: "none", n: state.Node{}, r: &check.Report{}, want: nil},
		{name: "kept but unreadable", n: state.Node{Deployed: &state.Deployed{Result: json.RawMessage(`{`)}}, r: nil, want: nil},
	} {
		got := deployOf(tc.n, tc.r)
		if (got == nil) != (tc.want == nil) || got != nil && (got.Image != tc.want.Image || got.Error != tc.want.Error || got.Verified != tc.want.Verified) {
			t.Errorf("%s: deployOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestWriteDeployErrorLine: the deploy error line appears only for a failed deploy.
func TestWriteDeployErrorLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    check.DeployResult
		want bool
	}{
		{d: check.DeployResult{Image: "debian.raw.zst", Device: "/dev/vda", Verified: true}},
		{d: check.DeployResult{Image: "debian.raw.zst", Error: "write /dev/vda: input/output error"}, want: true},
	} {
		var b bytes.Buffer
		d := NodeDetail{Report: &check.Report{}, Deploy: &tc.d}
		if err := d.writeDeploy(&b); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "deploy error:"); got != tc.want || tc.want && !strings.Contains(b.String(), "input/output error") {
			t.Errorf("deploy %+v printed:\n%s\nwant an error line: %v", tc.d, b.String(), tc.want)
		}
	}
}

// countingStore counts Events calls.
type countingStore struct {
	state.Store
	events atomic.Int32
}

func (s *countingStore) Events(q state.Query) ([]state.Event, error) {
	s.events.Add(1)
	return s.Store.Events(q)
}

// TestEventsLongPollWaitsForNews: a long poll for one node's events, with only another
// node's events in the log, sleeps until the deadline instead of reading the log in a
// loop; wait=0s is no wait, accepted. Mutants: lastSeq's `err == nil && seq > from`
// negated (Wait woke at once on the old events: a busy loop), `wait < 0` made <=.
func TestEventsLongPollWaitsForNews(t *testing.T) {
	t.Parallel()
	s, err := state.Open(filepath.Join(t.TempDir(), "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if _, err := s.Update("b", func(n *state.Node) ([]state.Event, error) {
			return []state.Event{{Kind: "dhcp.offer", Time: time.Now()}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	cs := &countingStore{Store: s}
	srv := httptest.NewServer(ControlHandler(ControlConfig{Store: cs, Token: "tok"}))
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	code, body := get("/api/v1/nodes/a/events?after=1&wait=300ms")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("long poll for a: %d %s, want 200 []", code, body)
	}
	if n := cs.events.Load(); n > 3 {
		t.Errorf("a 300ms long poll with no news read the log %d times: it must sleep until an event", n)
	}
	if code, body := get("/api/v1/events?after=0&wait=0s"); code != http.StatusOK || !strings.Contains(body, "dhcp.offer") {
		t.Errorf("wait=0s: %d %s, want 200 with the events", code, body)
	}
	if code, _ := get("/api/v1/events?wait=-1s"); code != http.StatusBadRequest {
		t.Errorf("wait=-1s: %d, want 400", code)
	}
}
