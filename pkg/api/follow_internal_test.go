package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// fakeServe answers up with fixed decisions and each nodes call with the next of a script
// of node lists (the last one repeats); events are always empty.
type fakeServe struct {
	decisions []lifecycle.Decision
	script    [][]NodeStatus
	calls     atomic.Int32
	mu        sync.Mutex
	upBodies  []UpRequest
}

func (f *fakeServe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PathUp:
		var req UpRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.upBodies = append(f.upBodies, req)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, UpResponse{Decisions: f.decisions, LastSeq: 7})
	case r.URL.Path == PathNodes:
		i := int(f.calls.Add(1)) - 1
		writeJSON(w, http.StatusOK, f.script[min(i, len(f.script)-1)])
	case r.URL.Path == PathEvents:
		writeJSON(w, http.StatusOK, []state.Event{})
	default:
		writeError(w, http.StatusNotFound, "no "+r.URL.Path)
	}
}

func followClient(t *testing.T, f *fakeServe) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUpAndFollow: up follows the started and resumed nodes (not the refused or skipped
// ones) until none is active, logs each phase change once, and counts a refusal and a
// node that did not end ready as failed; a dry run or no follow returns the decisions.
// (make mutate found up_follow.go untested, issue 20.)
func TestUpAndFollow(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	f := &fakeServe{
		decisions: []lifecycle.Decision{
			{Node: "a", Action: lifecycle.Start}, {Node: "b", Action: lifecycle.Refused, Detail: "b is protected"},
			{Node: "c", Action: lifecycle.Resume}, {Node: "d", Action: lifecycle.Skip},
		},
		script: [][]NodeStatus{
			{{Name: "c", Phase: lifecycle.PXE, Attempt: 2}, {Name: "a", Phase: lifecycle.Powering}, {Name: "d", Phase: lifecycle.Ready}},
			{{Name: "c", Phase: lifecycle.PXE, Attempt: 2}, {Name: "a", Phase: lifecycle.Agent}, {Name: "d", Phase: lifecycle.Ready}},
			{{Name: "c", Phase: lifecycle.Failed, Reason: long}, {Name: "a", Phase: lifecycle.Ready}, {Name: "d", Phase: lifecycle.Ready}},
		},
	}
	c := followClient(t, f)
	var log bytes.Buffer
	// A deadline only so a broken loop fails instead of hanging the package's run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.UpAndFollow(ctx, UpRequest{Selectors: []string{"all"}}, true, UpWatch{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nodes) != 2 || res.Nodes[0].Name != "a" || res.Nodes[1].Name != "c" || res.Nodes[0].Phase != lifecycle.Ready {
		t.Fatalf("followed %+v, want a (ready) and c, sorted", res.Nodes)
	}
	if res.Failed != 2 {
		t.Errorf("failed = %d, want 2 (b refused, c failed)", res.Failed)
	}
	l := log.String()
	if !strings.Contains(l, "refused: b is protected") || strings.Count(l, " c ") != 2 || strings.Count(l, " a ") != 3 || !strings.Contains(l, "pxe (attempt 2)") {
		t.Errorf("log:\n%s\nwant the refusal, a's 3 and c's 2 phase changes once each, c's attempt", l)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	if !strings.Contains(text.String(), "2 nodes:") {
		t.Errorf("followed result text:\n%s", text.String())
	}

	for _, tc := range []struct {
		name   string
		req    UpRequest
		follow bool
	}{
		{name: "dry run", req: UpRequest{DryRun: true}, follow: true},
		{name: "no follow", req: UpRequest{}, follow: false},
	} {
		g := &fakeServe{decisions: f.decisions, script: f.script}
		res, err := followClient(t, g).UpAndFollow(context.Background(), tc.req, tc.follow, UpWatch{Log: &bytes.Buffer{}})
		if err != nil || res.Nodes != nil || res.Failed != 1 || g.calls.Load() != 0 || res.DryRun != tc.req.DryRun {
			t.Errorf("%s: %+v, %v, %d nodes calls; want the decisions only, 1 failed (the refusal)", tc.name, res, err, g.calls.Load())
		}
	}
}

// TestUpFollowRedraw: on a terminal the progress block is redrawn in place (cursor up
// over the previous block), a long line is cut to 160 columns.
func TestUpFollowRedraw(t *testing.T) {
	t.Parallel()
	f := &fakeServe{
		decisions: []lifecycle.Decision{{Node: "a", Action: lifecycle.Start}},
		script: [][]NodeStatus{
			{{Name: "a", Phase: lifecycle.Powering, Attempt: 1}},
			{{Name: "a", Phase: lifecycle.Failed, Reason: strings.Repeat("y", 300)}},
		},
	}
	var screen bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := followClient(t, f).UpAndFollow(ctx, UpRequest{}, true, UpWatch{Log: &bytes.Buffer{}, Redraw: &screen})
	if err != nil || res.Failed != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	s := screen.String()
	if strings.Count(s, "\x1b[2A\x1b[J") != 1 || strings.Index(s, "\x1b[") < strings.Index(s, "powering") {
		t.Errorf("screen %q: want the second block to move up over the first (2 lines)", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 160 {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
	if !strings.Contains(s, "...") {
		t.Errorf("the long reason was not cut: %q", s)
	}
}

// TestUpFollowStops: a cancelled follow says the nodes carry on in serve; a serve that
// answers an error status ends the follow with it.
func TestUpFollowStops(t *testing.T) {
	t.Parallel()
	f := &fakeServe{
		decisions: []lifecycle.Decision{{Node: "a", Action: lifecycle.Start}},
		script:    [][]NodeStatus{{{Name: "a", Phase: lifecycle.Powering}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log testenv.SyncBuffer
	go func() {
		for f.calls.Load() < 2 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
	}()
	_, err := followClient(t, f).UpAndFollow(ctx, UpRequest{}, true, UpWatch{Log: &log})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "stopped following") {
		t.Errorf("cancelled follow: %v, want 'stopped following'", err)
	}
}
