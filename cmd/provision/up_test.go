package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/apitest"
	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
)

func TestUpCommand(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 3, 3, map[int]lab.Faults{2: {Hang: true}})
	r.Start()

	out, _, code := runCLI(t, "up", "all", "--dry-run", "-i", r.InvDir, "--state-dir", r.StateDir)
	if code != 0 || strings.Count(out, "start") != 3 {
		t.Errorf("up --dry-run: %d\n%s", code, out)
	}
	if r.PowerActions(0) != 0 {
		t.Fatal("--dry-run power-cycled a node")
	}

	out, errOut, code := runCLI(t, "up", "all", "--wave", "2", "-i", r.InvDir, "--state-dir", r.StateDir, "-o", "json")
	var res api.UpResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("up -o json: %v\n%s\n%s", err, out, errOut)
	}
	if code != 4 || res.Failed != 1 || len(res.Nodes) != 3 {
		t.Fatalf("up with one hung BMC: exit %d, %+v", code, res)
	}
	bmcURL := "https://" + r.Fleet.BMCs[2].Addr()
	for i, n := range res.Nodes {
		switch {
		case i < 2 && n.Phase != lifecycle.Ready:
			t.Errorf("%s: %s %q, want ready", n.Name, n.Phase, n.Reason)
		case i == 2 && (n.Phase != lifecycle.Failed || !strings.Contains(n.Reason, bmcURL)):
			t.Errorf("%s: %s %q, want failed naming %s", n.Name, n.Phase, n.Reason, bmcURL)
		}
	}
	if !strings.Contains(errOut, "node-0001  ready") {
		t.Errorf("no progress lines on stderr:\n%s", errOut)
	}
	// The final table, and up again: the ready nodes are skipped.
	out, _, code = runCLI(t, "up", "node-0001", "node-0002", "-i", r.InvDir, "--state-dir", r.StateDir)
	if code != 0 || strings.Count(out, "skip") != 2 || r.PowerActions(0) != 1 || r.PowerActions(1) != 1 {
		t.Errorf("up on ready nodes: %d\n%s", code, out)
	}

	_, errOut, code = runCLI(t, "up", "all", "--state-dir", t.TempDir())
	if code != 6 || !strings.Contains(errOut, "start `provision serve`") {
		t.Errorf("up without serve: %d %q", code, errOut)
	}
}

// TestUpSurvivesServeRestart: serve dies while nodes boot; up waits, serve comes back and
// resumes, up ends with every node ready and each BMC counted one power action.
func TestUpSurvivesServeRestart(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 3, 3, nil)
	r.Gate = make(chan struct{})
	r.Start()
	// up runs in-process in the background, as an operator's terminal would run it.
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"up", "all", "-i", r.InvDir, "--state-dir", r.StateDir}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Error("up did not stop when cancelled")
		}
	})
	c := r.Client()
	deadline := time.Now().Add(30 * time.Second)
	for booting := 0; booting < 3; {
		if time.Now().After(deadline) {
			t.Fatal("nodes did not reach booting")
		}
		time.Sleep(50 * time.Millisecond)
		ns, _ := c.Nodes(t.Context())
		booting = 0
		for _, n := range ns {
			if n.Phase == lifecycle.Booting {
				booting++
			}
		}
	}
	r.Kill()
	close(r.Gate)
	time.Sleep(1500 * time.Millisecond)
	r.Start()
	select {
	case code := <-exited:
		exited <- code // for the cleanup
		if code != 0 {
			t.Fatalf("up: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("up did not finish\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "serve went away") || !strings.Contains(stderr.String(), "serve is back") {
		t.Errorf("up did not say it waited for serve:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "3 nodes: ready 3") {
		t.Errorf("final table:\n%s", stdout.String())
	}
	for i := range 3 {
		if a := r.PowerActions(i); a != 1 {
			t.Errorf("%s: %d power actions counted by its BMC, want 1", apitest.NodeName(i), a)
		}
	}
}

// lockedBuffer is a buffer a command writes from its goroutine while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A simulated run through the CLI: up, status, report, events, node revoke. No output
// holds a bootstrap secret or a key; after node revoke the node's agent is refused (401)
// and nothing about the node changes.
func TestRunOutputsHoldNoSecretAndRevoke(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 2, nil)
	r.Start()
	var outputs []string
	run := func(args ...string) (string, int) {
		t.Helper()
		out, errOut, code := runCLI(t, append(args, "-i", r.InvDir, "--state-dir", r.StateDir)...)
		outputs = append(outputs, strings.Join(args, " ")+"\n"+out+errOut)
		return out + errOut, code
	}
	if out, code := run("up", "all"); code != 0 {
		t.Fatalf("up: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"status"}, {"status", "-o", "json"}, {"report", "node-0001"}, {"report", "node-0001", "-o", "yaml"}, {"events"}, {"events", "-o", "json"}} {
		if out, code := run(args...); code != 0 {
			t.Errorf("%v: %d\n%s", args, code, out)
		}
	}
	if out, code := run("node", "revoke", "node-0001"); code != 0 || !strings.Contains(out, "node-0001: credentials revoked") {
		t.Fatalf("node revoke: %d\n%s", code, out)
	}
	if out, code := run("node", "revoke", "nope"); code != 1 || !strings.Contains(out, "nope") {
		t.Errorf("node revoke of an unknown node: %d\n%s", code, out)
	}
	out, _ := run("status", "-o", "json")
	if !strings.Contains(out, "revoked at") {
		t.Errorf("status does not show the revoked certificate:\n%s", out)
	}
	b, _ := r.Identities.Load("node-0001")
	bundle := b.(identity.Bundle)
	cl, _ := r.Cmdlines.Load("node-0001")
	args := cl.(map[string]string)
	c, err := report.NewClient(args[pki.CmdlineAPI], args[pki.CmdlineCA])
	if err != nil {
		t.Fatal(err)
	}
	c.SetIdentity(bundle.CertPEM, bundle.KeyPEM)
	var se *report.StatusError
	if err := c.Hello(context.Background(), "node-0001", "installed"); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("hello with the revoked certificate: %v, want 401", err)
	}
	all := strings.Join(outputs, "\n")
	for _, n := range []string{"node-0001", "node-0002"} {
		cl, _ := r.Cmdlines.Load(n)
		if sec := cl.(map[string]string)[pki.CmdlineBootstrap]; sec == "" || strings.Contains(all, sec) {
			t.Errorf("%s's bootstrap secret is empty or in the CLI's output", n)
		}
	}
	if strings.Contains(all, "PRIVATE KEY") {
		t.Error("a private key in the CLI's output")
	}
}
