package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/templates"
)

// The unit's ExecStart must be a command line this binary accepts: run it (paths moved
// into the test's directories) once, in-process, against a fake server.
func TestSystemdUnitExecStartRuns(t *testing.T) {
	t.Parallel()
	unit, err := templates.FS.ReadFile("systemd/node-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	var exec_ string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec_ = v
		}
	}
	args := strings.Fields(exec_)
	if len(args) < 2 || args[0] != "/usr/local/bin/node-agent" || args[1] != "daemon" {
		t.Fatalf("ExecStart %q", exec_)
	}
	srv := startServer(t, `{"node":"gpu-a01-01"}`)
	dir := t.TempDir()
	// The install wrote the node's identity to /etc/racklift: the daemon authenticates
	// with it from its first start.
	repl := strings.NewReplacer(
		"/etc/racklift", srv.identityDir(t, "gpu-a01-01"),
		"/var/lib/racklift/spool", filepath.Join(dir, "spool"),
	)
	var out []string
	for _, a := range args[1:] {
		out = append(out, repl.Replace(a))
	}
	out = append(out, "--once")
	if _, stderr, code := runAgent(t, out...); code != 0 {
		t.Fatalf("%v: exit %d\n%s", out, code, stderr)
	}
	if got := srv.got(); len(got) != 1 || got[0].Node != "gpu-a01-01" || got[0].Hardware == nil {
		t.Fatalf("server got %+v", got)
	}
}
