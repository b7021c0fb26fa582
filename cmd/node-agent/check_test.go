package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/expect"
)

// runAgent runs node-agent in-process on a fresh command tree and returns stdout,
// stderr and exit status.
func runAgent(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// agentBin is the built node-agent, for the tests that signal or watch a process.
func agentBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.Bin(t), "node-agent")
	testenv.NeedFile(t, bin)
	return bin
}

func hasNVIDIADriver() bool {
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "/usr/lib64/libnvidia-ml.so.1", "/usr/lib/libnvidia-ml.so.1"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Acceptance: on a machine without NVIDIA's driver, check against a profile expecting 8
// GPUs exits 1 with the plain-words driver message, not a crash.
func TestCheckWithoutDriverSaysSoAndExitsOne(t *testing.T) {
	t.Parallel()
	if hasNVIDIADriver() {
		t.Skip("this machine has the NVIDIA driver")
	}
	expect := filepath.Join(testenv.RepoRoot(), "pkg", "expect", "testdata", "expect-8gpu.yaml")
	for _, format := range []string{"table", "json"} {
		stdout, stderr, code := runAgent(t, "check", "--expect", expect, "-o", format)
		if code != 1 {
			t.Fatalf("-o %s: exit %d, want status 1\nstdout:\n%s\nstderr:\n%s", format, code, stdout, stderr)
		}
		if strings.Contains(stderr, "panic") || strings.Contains(stderr, "SIGSEGV") {
			t.Fatalf("crashed:\n%s", stderr)
		}
		if !strings.Contains(stdout, "NVIDIA driver not installed (libnvidia-ml.so.1 not found)") {
			t.Fatalf("-o %s: no plain-words driver message:\n%s", format, stdout)
		}
		if !strings.Contains(stderr, "checks failed: gpu.nvml, gpu.count") {
			t.Errorf("-o %s: stderr summary %q", format, stderr)
		}
		if format == "json" {
			var rep struct {
				Node    string
				Failed  bool
				Results []struct{ Name, Status, Message string }
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("-o json: %v\n%s", err, stdout)
			}
			if rep.Node != "gpu-a01-01" || !rep.Failed || len(rep.Results) != 2 || rep.Results[0].Name != "gpu.nvml" || rep.Results[0].Status != "fail" {
				t.Fatalf("-o json: %+v", rep)
			}
		}
	}
}

func TestCheckBadExpectFile(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("node: n1\ngpu:\n  cuont: 8\n"), 0o644)
	stdout, stderr, code := runAgent(t, "check", "--expect", bad)
	out := stdout + stderr
	if code == 0 || !strings.Contains(out, "bad.yaml") || !strings.Contains(out, "cuont") {
		t.Fatalf("bad expect file: exit %d\n%s", code, out)
	}
}

// The storage test file is removed when the agent is stopped mid-run.
func TestCheckRemovesStorageTestFileOnSignal(t *testing.T) {
	t.Parallel()
	bin := agentBin(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			os.Mkdir(data, 0o755)
			expect := filepath.Join(dir, "expect.yaml")
			os.WriteFile(expect, []byte(fmt.Sprintf("node: sigtest\nstorage:\n  - mount: %s\n    min_write_mbps: 1\n", data)), 0o644)
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "check", "--expect", expect, "--storage-size", "64G", "--storage-time", "2m")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			deadline := time.Now().Add(30 * time.Second)
			var files []string
			for time.Now().Before(deadline) {
				files, _ = filepath.Glob(filepath.Join(data, ".racklift-iotest-*"))
				if len(files) > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(files) == 0 {
				t.Fatal("agent never created its test file")
			}
			time.Sleep(300 * time.Millisecond) // mid-write
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("agent did not stop within 30s of the signal")
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Errorf("exit %v, want status %d", err, 128+int(sig))
			}
			if left, _ := filepath.Glob(filepath.Join(data, "*")); len(left) != 0 {
				t.Fatalf("left behind after %v: %v", sig, left)
			}
			if !strings.Contains(stderr.String(), "storage test files removed") {
				t.Errorf("stderr %q", stderr.String())
			}
		})
	}
}

// expect prints what check --expect reads back, from the example inventory.
func TestExpectRoundTrip(t *testing.T) {
	t.Parallel()
	site := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site")
	out, errOut, code := runAgent(t, "expect", "-i", site, "gpu-a01-01")
	if code != 0 {
		t.Fatalf("expect: exit %d: %s", code, errOut)
	}
	f := filepath.Join(t.TempDir(), "expect.yaml")
	os.WriteFile(f, []byte(out), 0o644)
	e, err := expect.Load(f)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if e.Node != "gpu-a01-01" || e.GPU == nil || e.GPU.Count != 8 || len(e.Storage) != 2 || len(e.Networks) != 3 {
		t.Fatalf("%+v", e)
	}
	if _, _, code := runAgent(t, "expect", "-i", site, "nope"); code == 0 {
		t.Fatal("unknown node accepted")
	}
}

// Each run builds its tree afresh: -o json given to one run is not there in the next.
func TestEachRunHasAFreshTree(t *testing.T) {
	t.Parallel()
	site := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site")
	for round := range 2 {
		out, _, code := runAgent(t, "expect", "-i", site, "gpu-a01-01", "-o", "json")
		if code != 0 || !strings.HasPrefix(out, "{") {
			t.Errorf("round %d: expect -o json: %d %.40q", round, code, out)
		}
		out, _, code = runAgent(t, "expect", "-i", site, "gpu-a01-01")
		if code != 0 || !strings.HasPrefix(out, "gpu:\n") || !strings.Contains(out, "\nnode: gpu-a01-01\n") {
			t.Errorf("round %d: expect after expect -o json: %d %.40q", round, code, out)
		}
	}
}
