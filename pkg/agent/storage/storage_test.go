package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

func TestParseMountstats(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/mountstats-nfs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := ParseMountstats(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6 {
		t.Fatalf("got %d mounts, want 6: %+v", len(ms), ms)
	}
	for _, tc := range []struct {
		point, server, fstype string
		xprts                 int
		rsize                 string
	}{
		{"/mnt/home", "10.20.0.5", "nfs4", 1, "1048576"},
		{"/mnt/data", "10.20.0.5", "nfs4", 1, "262144"},
		{"/mnt/scratch", "10.20.0.6", "nfs", 4, "1048576"},
	} {
		m, ok := mountOf(ms, tc.point+"/sub/dir")
		if !ok || m.Point != tc.point || m.Server() != tc.server || m.FSType != tc.fstype || m.Xprts != tc.xprts || m.Opts["rsize"] != tc.rsize {
			t.Errorf("mountOf(%s) = %+v (server %s)", tc.point, m, m.Server())
		}
	}
	if m, _ := mountOf(ms, "/var/tmp"); m.Point != "/" {
		t.Errorf("/var/tmp is on %q, want /", m.Point)
	}
	if m, _ := mountOf(ms, "/mnt/with space"); m.FSType != "tmpfs" {
		t.Errorf("escaped mount point not found: %+v", m)
	}
}

func TestNFSChecks(t *testing.T) {
	t.Parallel()
	f, _ := os.Open("testdata/mountstats-nfs.txt")
	ms, err := ParseMountstats(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sys := t.TempDir()
	for bdi, kb := range map[string]string{"0:53": "128", "0:54": "128", "0:60": "15360"} {
		os.MkdirAll(filepath.Join(sys, "class", "bdi", bdi), 0o755)
		os.WriteFile(filepath.Join(sys, "class", "bdi", bdi, "read_ahead_kb"), []byte(kb+"\n"), 0o644)
	}
	o := Options{
		SysRoot: sys,
		DevOf: func(p string) (uint32, uint32, error) {
			return 0, map[string]uint32{"/mnt/home": 53, "/mnt/data": 54, "/mnt/scratch": 60}[p], nil
		},
		RouteMTU: func(server string) (string, int, error) {
			if server == "10.20.0.5" {
				return "ens1f0", 1500, nil
			}
			return "ens1f1.200", 9000, nil
		},
		NetworkMTU: 9000,
	}
	o.defaults()
	tests := []struct {
		mount    string
		nconnect int
		want     map[string]check.Status
		msg      map[string]string
	}{
		{
			mount: "/mnt/data", nconnect: 8,
			want: map[string]check.Status{"nconnect": check.Warn, "rsize_wsize": check.Warn, "readahead": check.Warn, "mtu": check.Warn},
			msg: map[string]string{
				"nconnect":    "all mounts of 10.20.0.5 (/mnt/home, /mnt/data) share the connections of the first one mounted (/mnt/home); unmount all of them and mount /mnt/home first with nconnect=8",
				"rsize_wsize": "mount with -o rsize=1048576,wsize=1048576",
				"readahead":   "echo 15360 > /sys/class/bdi/0:54/read_ahead_kb",
				"mtu":         "traffic to 10.20.0.5 leaves via ens1f0 with MTU 1500, the storage network's MTU is 9000",
			},
		},
		{mount: "/mnt/scratch", nconnect: 4, want: map[string]check.Status{}},
		{
			mount: "/mnt/scratch", nconnect: 8,
			want: map[string]check.Status{"nconnect": check.Warn},
			msg:  map[string]string{"nconnect": "remount with -o nconnect=8"},
		},
	}
	for _, tc := range tests {
		m, _ := mountOf(ms, tc.mount)
		rs := nfsChecks(m, ms, expect.Storage{Mount: tc.mount, Nconnect: tc.nconnect}, o)
		got := map[string]check.Status{}
		for _, r := range rs {
			if r.Status != check.Pass {
				got[r.Name] = r.Status
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s nconnect=%d: non-passing %v, want %v\n%+v", tc.mount, tc.nconnect, got, tc.want, rs)
		}
		for name, sub := range tc.msg {
			for _, r := range rs {
				if r.Name == name && !strings.Contains(r.Message, sub) {
					t.Errorf("%s %s message %q lacks %q", tc.mount, name, r.Message, sub)
				}
			}
		}
	}
}

// TempDir is on the real disk here (ext4), which supports O_DIRECT.
func TestMeasureODirectRealFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tp, err := Measure(context.Background(), dir, Params{Size: 32 << 20, Jobs: 4, Duration: time.Minute}, true)
	if err != nil {
		t.Fatal(err)
	}
	if tp.WriteBytes != 32<<20 || tp.ReadBytes != 32<<20 || tp.BufferedBytes != 32<<20 {
		t.Fatalf("moved write %d read %d buffered %d bytes, want %d each", tp.WriteBytes, tp.ReadBytes, tp.BufferedBytes, 32<<20)
	}
	if tp.WriteMBps() <= 0 || tp.ReadMBps() <= 0 {
		t.Fatalf("rates %v %v", tp.WriteMBps(), tp.ReadMBps())
	}
	if _, err := os.Stat(tp.File); !os.IsNotExist(err) {
		t.Fatalf("test file %s left behind (%v)", tp.File, err)
	}
}

// Measure is bounded by Duration, not by Size: with a size no phase can reach (16 GiB
// in 300 ms; small enough that a Measure ignoring its deadline cannot fill the disk),
// it returns having written part of it, each phase having run until its own deadline.
// Asserted without an upper bound on time, which a loaded machine's disk (fsync of what
// was written) can break (the old 20 s bound failed 1 run in 20): the lower bound is
// causal (a phase stops at its deadline and no sooner), and a Measure that ignored the
// deadline is stopped by the hang guard's context and fails.
func TestMeasureBoundedByTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const d = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard
	defer cancel()
	start := time.Now()
	tp, err := Measure(ctx, dir, Params{Size: 16 << 30, Jobs: 2, Duration: d}, false)
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("not bounded by time: still measuring after %v (%d bytes written)", took, tp.WriteBytes)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tp.WriteBytes >= 16<<30 || tp.ReadBytes > tp.WriteBytes {
		t.Fatalf("wrote %d, read %d bytes: the size, not the time, ended it", tp.WriteBytes, tp.ReadBytes)
	}
	// The write phase cannot finish, so it ran to its deadline; the read phase too,
	// unless it read everything written first.
	if took < d || tp.ReadBytes < tp.WriteBytes && took < 2*d {
		t.Fatalf("returned after %v having read %d of %d bytes: a phase stopped before its %v deadline", took, tp.ReadBytes, tp.WriteBytes, d)
	}
}

func TestMeasureCancelledRemovesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if ms, _ := filepath.Glob(filepath.Join(dir, TestFilePrefix+"*")); len(ms) > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := Measure(ctx, dir, Params{Size: 64 << 30, Jobs: 2, Duration: time.Minute}, false)
	if err == nil {
		t.Fatal("cancelled measurement returned no error")
	}
	if ms, _ := filepath.Glob(filepath.Join(dir, "*")); len(ms) != 0 {
		t.Fatalf("left behind: %v", ms)
	}
}

func TestStaleFilesOfDeadAgentsRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, fmt.Sprintf("%s%d-deadbeef", TestFilePrefix, c.Process.Pid))
	alive := filepath.Join(dir, fmt.Sprintf("%s%d-cafe", TestFilePrefix, os.Getppid()))
	os.WriteFile(stale, nil, 0o600)
	os.WriteFile(alive, nil, 0o600)
	removeStale(dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale test file of a dead agent kept")
	}
	if _, err := os.Stat(alive); err != nil {
		t.Error("test file of a live process removed")
	}
}

func TestCheckRealDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Options{Params: Params{Size: 16 << 20, Jobs: 2, Duration: 30 * time.Second}}
	rs := Check(context.Background(), []expect.Storage{
		{Mount: dir, MinWriteMBps: 1, MinReadMBps: 1e9},
		{Mount: filepath.Join(dir, "absent")},
	}, o)
	want := map[string]check.Status{
		"storage." + dir + ".mount":         check.Warn, // a directory, not a mount point
		"storage." + dir + ".write":         check.Pass,
		"storage." + dir + ".read":          check.Fail,
		"storage." + dir + ".buffered_read": check.Pass,
		"storage." + dir + "/absent.mount":  check.Fail,
	}
	got := map[string]check.Status{}
	for _, r := range rs {
		got[r.Name] = r.Status
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v\n%+v", got, want, rs)
	}
	for _, r := range rs {
		if r.Name == "storage."+dir+".read" && !strings.Contains(r.Message, "below the profile's minimum 1000000000 MB/s") {
			t.Errorf("read message %q", r.Message)
		}
		if r.Name == "storage."+dir+".mount" && !strings.Contains(r.Message, "is not a mount point") {
			t.Errorf("mount message %q", r.Message)
		}
	}
}

// Since Linux 6.6 tmpfs accepts O_DIRECT, so it is refused as memory, not storage.
func TestTmpfsIsNotStorage(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("/dev/shm", "racklift-storage-test-")
	if err != nil {
		t.Skipf("no /dev/shm here: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := writeResult(t, dir)
	if w.Status != check.Fail || !strings.Contains(w.Message, "is tmpfs, which keeps files in memory") {
		t.Fatalf("write result %+v", w)
	}
}

// ramfs refuses O_DIRECT outright (EINVAL at open).
func TestRamfsRefusesODirect(t *testing.T) {
	testenv.NeedRoot(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ramfs")
	os.Mkdir(dir, 0o755)
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Fatalf("mount ramfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	w := writeResult(t, dir)
	if w.Status != check.Fail || !strings.Contains(w.Message, "(ramfs) refuses O_DIRECT") || !strings.Contains(w.Message, "does not fall back") {
		t.Fatalf("write result %+v", w)
	}
}

func writeResult(t *testing.T, dir string) check.Result {
	t.Helper()
	rs := Check(context.Background(), []expect.Storage{{Mount: dir, MinWriteMBps: 100}}, Options{Params: Params{Size: 8 << 20}})
	if ms, _ := filepath.Glob(filepath.Join(dir, "*")); len(ms) != 0 {
		t.Fatalf("left behind: %v", ms)
	}
	for _, r := range rs {
		if r.Name == "storage."+dir+".write" {
			return r
		}
	}
	t.Fatalf("no write result in %+v", rs)
	return check.Result{}
}
