package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/events"
)

// copyExample copies inventory/examples/NAME into a temp dir.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "inventory", "examples", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q", file, old)
	}
	// Write a temp file and rename it over, as editors do.
	tmp := file + ".tmp~"
	if err := os.WriteFile(tmp, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHotReload(t *testing.T) {
	t.Parallel()
	dir := copyExample(t, "lab")
	rack := filepath.Join(dir, "racks", "lab.yaml")
	logs := &testenv.SyncBuffer{}
	s, err := New(Config{Inventory: dir, Listen: "127.0.0.1", Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ip := func() string { return s.Current().Node("lab-01").Reservation.IP.String() }
	if ip() != "10.204.0.11" {
		t.Fatalf("lab-01 starts at %s", ip())
	}
	reloads := func(withErr bool) int {
		n := 0
		for _, e := range s.Events.Recent("") {
			if e.Kind == events.Reload && (e.Err != "") == withErr {
				n++
			}
		}
		return n
	}

	// A good edit is applied.
	edit(t, rack, "address: 10.204.0.11,", "address: 10.204.0.21,")
	waitFor(t, "the new address in force", func() bool { return ip() == "10.204.0.21" })

	// A defective edit is rejected with its located error, the last good plan stays.
	edit(t, rack, `mac: "52:54:00:04:00:02"`, `mac: "52:54:00:04:00:zz"`)
	waitFor(t, "the rejected reload", func() bool { return reloads(true) == 1 })
	if ip() != "10.204.0.21" || s.Current().Node("lab-02") == nil {
		t.Fatalf("the rejected edit changed the plan in force")
	}
	if l := logs.String(); !strings.Contains(l, "lab.yaml:") || !strings.Contains(l, "inventory reload rejected") {
		t.Fatalf("the log does not locate the error:\n%s", l)
	}

	// Fixing it applies again.
	edit(t, rack, `mac: "52:54:00:04:00:zz"`, `mac: "52:54:00:04:00:22"`)
	// Its event is published just after the plan is swapped in: wait for both.
	waitFor(t, "the fixed inventory in force and its reload recorded", func() bool {
		np := s.Current().Node("lab-02")
		return np != nil && np.Reservation.MACString == "52:54:00:04:00:22" && reloads(false) >= 2
	})
	if reloads(false) != 2 {
		t.Errorf("applied reloads = %d, want 2", reloads(false))
	}
}
