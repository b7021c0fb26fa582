package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/racklift/racklift/internal/apitest"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// TestUpProgressFitsTmux runs `provision up` on 40 nodes in a real terminal, a tmux pane
// of 80x24, and reads the screen and its scrollback while the nodes are held booting:
// the progress block is redrawn in place, so the counts line is in the pane's whole
// history exactly once (a block taller than the screen leaves a copy in the scrollback at
// every redraw), no line is wrapped, and the failed and active nodes are still named.
func TestUpProgressFitsTmux(t *testing.T) {
	testenv.Slow(t)
	tmux := testenv.NeedCommand(t, "tmux", "go")[0]
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "provision")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const nodes = 40
	r := apitest.NewRack(t, nodes, nodes, nil)
	r.Gate = make(chan struct{}) // agents wait: the nodes stay booting while the screen is read
	r.Start()
	gateOpen := false
	t.Cleanup(func() {
		if !gateOpen {
			close(r.Gate)
		}
	})

	// A tmux server of its own (its own socket), no status line: the pane is 80x24.
	// scroll-on-clear off: tmux 3.3 otherwise pushes the screen into the scrollback when
	// a clear (the redraw's ESC[J) starts at the top row, which xterm and the others do not.
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g status off\nset -g remain-on-exit on\nset -g history-limit 5000\nset -g scroll-on-clear off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock, "-f", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tm("kill-server") })
	cmdline := fmt.Sprintf("%s up all -i %s --state-dir %s --timeout 5m", bin, r.InvDir, r.StateDir)
	if out, err := tm("new-session", "-d", "-s", "up", "-x", "80", "-y", "24", "env", "TERM=tmux-256color", "sh", "-c", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	if size, _ := tm("display-message", "-p", "-t", "up", "#{pane_width}x#{pane_height}"); strings.TrimSpace(size) != "80x24" {
		t.Fatalf("the tmux pane is %q, want 80x24", size)
	}
	history := func() string { s, _ := tm("capture-pane", "-p", "-t", "up", "-S", "-", "-E", "-"); return s }

	// Read the screen while all 40 are under way and held.
	c := r.Client()
	checks := 0
	deadline := time.Now().Add(3 * time.Minute)
	for checks < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not all get under way; the pane:\n%s", history())
		}
		time.Sleep(300 * time.Millisecond)
		ns, _ := c.Nodes(t.Context())
		held := 0
		for _, n := range ns {
			if n.Phase.Active() && n.Phase != lifecycle.Powering {
				held++
			}
		}
		all := history()
		// Read while up is drawing and nodes are under way (all 40 are listed whatever
		// their phase; on a loaded machine some may not have left powering yet).
		if held == 0 || !strings.Contains(all, fmt.Sprintf("%d nodes:", nodes)) {
			continue
		}
		checks++
		if n := strings.Count(all, fmt.Sprintf("%d nodes:", nodes)); n != 1 {
			t.Fatalf("the counts line is in the pane's history %d times: the progress smears\n%s", n, all)
		}
		// -J joins a wrapped line back into one: longer than 80 columns means it wrapped.
		screen, _ := tm("capture-pane", "-p", "-J", "-t", "up")
		for _, l := range strings.Split(screen, "\n") {
			if utf8.RuneCountInString(l) > 80 {
				t.Fatalf("a line wrapped on the 80-column screen (%d columns):\n%s", utf8.RuneCountInString(l), screen)
			}
		}
		if !strings.Contains(screen, "more not shown (80x24 terminal)") || !strings.Contains(screen, "node-0001") {
			t.Fatalf("40 nodes on 24 rows: no summary line or no node named:\n%s", screen)
		}
		t.Logf("screen %d of 5 with %d nodes held:\n%s", checks, held, screen)
	}
	close(r.Gate)
	gateOpen = true
	deadline = time.Now().Add(3 * time.Minute)
	for {
		if dead, _ := tm("display-message", "-p", "-t", "up", "#{pane_dead}"); strings.TrimSpace(dead) == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("up did not end; the pane:\n%s", history())
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The final table follows the block: every node once, in the first column (the
	// block's lines are indented).
	all := history()
	rows := 0
	for _, l := range strings.Split(all, "\n") {
		if strings.HasPrefix(l, "node-") {
			rows++
		}
	}
	if rows != nodes {
		t.Errorf("final table has %d node rows, want %d:\n%s", rows, nodes, all)
	}
}
