package state

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/internal/testenv"
)

// The store commits with fsync: the setting itself, checked in-process.
func TestOpensWithSyncOn(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	if s.db.NoSync || s.db.NoGrowSync {
		t.Fatalf("state opened with NoSync=%v NoGrowSync=%v: an acknowledged event would not survive a power loss", s.db.NoSync, s.db.NoGrowSync)
	}
}

// fsShutdownNoLogFlush is FS_IOC_SHUTDOWN (XFS_IOC_GOINGDOWN, _IOR('X', 125, __u32))
// with FS_GOING_DOWN_NOLOGFLUSH: the filesystem stops at once, dropping every dirty
// page and uncommitted journal entry, as a power cut does (xfstests' "godown").
const (
	fsIOCShutdown         = 0x8004587d
	fsGoingDownNoLogFlush = 2
)

// powerCut runs the writer (TestHelperWriter) in a child process on a fresh ext4 on a
// loop device, cuts the power under it once it has acknowledged n events (filesystem
// shutdown without flushing, then SIGKILL), remounts and reopens the store. It returns
// how many events were acknowledged before the cut and the reopened store (or why it
// would not open).
func powerCut(t *testing.T, n uint64, noSync bool) (acked uint64, s *Bolt, openErr error) {
	t.Helper()
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "disk.img"), filepath.Join(tmp, "mnt")
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	run("truncate", "-s", "128M", img)
	run("mkfs.ext4", "-q", "-F", img)
	loop := run("losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	run("mount", loop, mnt)
	mounted := true
	t.Cleanup(func() {
		if s != nil {
			s.Close()
		}
		if mounted {
			if err := exec.Command("umount", mnt).Run(); err != nil {
				exec.Command("umount", "-l", mnt).Run()
			}
		}
	})

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "RACKLIFT_STATE_HELPER_DIR="+filepath.Join(mnt, "state"))
	if noSync {
		cmd.Env = append(cmd.Env, "RACKLIFT_STATE_HELPER_NOSYNC=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	for acked < n && sc.Scan() {
		if seq, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			acked = seq
		}
	}
	if acked < n {
		t.Fatalf("writer acknowledged only %d events before exiting", acked)
	}
	// The cut: nothing more reaches the disk, then the process dies without a Close.
	d, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	flag := uint32(fsGoingDownNoLogFlush)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), fsIOCShutdown, uintptr(unsafe.Pointer(&flag))); errno != 0 {
		d.Close()
		t.Fatalf("shutdown ioctl on %s: %v", mnt, errno)
	}
	d.Close()
	cmd.Process.Kill()
	cmd.Wait()
	killed = true
	go func() { // drain what the child printed after the cut
		for sc.Scan() {
		}
	}()

	// Power back on: unmount, mount (the journal replays), open as serve would.
	run("umount", mnt)
	mounted = false
	run("mount", loop, mnt)
	mounted = true
	s, openErr = Open(filepath.Join(mnt, "state"), Options{Check: true})
	return acked, s, openErr
}

// lost says what of the acked events the reopened store is missing, "" when nothing.
func lost(s *Bolt, openErr error, acked uint64) string {
	if openErr != nil {
		return fmt.Sprintf("the store does not open after the cut: %v", openErr)
	}
	evs, err := s.Events(Query{})
	if err != nil {
		return fmt.Sprintf("reading the log after the cut: %v", err)
	}
	if uint64(len(evs)) < acked {
		return fmt.Sprintf("the log holds %d events after the cut, but %d were acknowledged", len(evs), acked)
	}
	n, err := s.Get("killed")
	if err != nil {
		return fmt.Sprintf("the node record after the cut: %v", err)
	}
	if uint64(n.Attempt) != uint64(len(evs)) {
		return fmt.Sprintf("node counter %d disagrees with %d logged events", n.Attempt, len(evs))
	}
	return ""
}

// TestPowerCutLosesNothingAcknowledged cuts the power (an ext4 shutdown that drops every
// unsynced page, then SIGKILL) under a writer and checks that every event it acknowledged
// is there after a remount, and that the store opens clean and passes its check. With
// bbolt's NoSync on, this fails: the acknowledged commits are still in the page cache
// when the power goes (TestPowerCutCatchesNoSync shows it).
func TestPowerCutLosesNothingAcknowledged(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mkfs.ext4", "losetup", "mount", "umount", "truncate")
	for round := range 3 {
		acked, s, err := powerCut(t, 200+uint64(round)*150, false)
		if why := lost(s, err, acked); why != "" {
			t.Fatalf("round %d: %s", round, why)
		}
		t.Logf("round %d: %d acknowledged, all there after the cut", round, acked)
	}
}

// TestPowerCutCatchesNoSync is the durability test run against a store with fsync off:
// it must see acknowledged events lost (or the store damaged), else the test above could
// not catch a durability regression.
func TestPowerCutCatchesNoSync(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mkfs.ext4", "losetup", "mount", "umount", "truncate")
	start := time.Now()
	acked, s, err := powerCut(t, 300, true)
	why := lost(s, err, acked)
	if why == "" {
		t.Fatalf("with NoSync, all %d acknowledged events survived the cut (after %v): the power-cut harness would not catch a store that skips fsync", acked, time.Since(start))
	}
	if err != nil && !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNoState) {
		t.Logf("store after the cut: %v", err)
	}
	t.Logf("with NoSync, as expected: %s", why)
}
