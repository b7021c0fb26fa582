package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// TestMountCheckWords: what the mount check says for a file where a mount is expected,
// a missing mount in the agent ramdisk (a warning: nothing is mounted there), an
// unreadable mount table and a directory in no mount entry (make mutate found these
// paths untested, issue 20).
func TestMountCheckWords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "data")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mount  string
		mounts []Mount
		msErr  error
		o      Options
		status check.Status
		msg    string
	}{
		{name: "a file", mount: file, status: check.Fail, msg: file + " is not a directory"},
		{name: "missing", mount: filepath.Join(dir, "nope"), status: check.Fail, msg: "does not exist: is it mounted"},
		{name: "missing in the ramdisk", mount: filepath.Join(dir, "nope"), o: Options{AbsentOK: true}, status: check.Warn, msg: "is not mounted in the agent ramdisk"},
		{name: "mount table unreadable", mount: dir, msErr: errors.New("permission denied"), status: check.Warn, msg: "cannot read mount table: permission denied"},
		{name: "in no mount entry", mount: dir, status: check.Warn, msg: dir + " is in no mount table entry"},
		{name: "a mount point", mount: dir, mounts: []Mount{{Device: "/dev/vdb1", Point: dir, FSType: "ext4"}}, status: check.Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.NoThroughput = true
			rs := checkMount(context.Background(), expect.Storage{Mount: tc.mount}, tc.mounts, tc.msErr, o)
			if len(rs) == 0 || rs[0].Name != "storage."+tc.mount+".mount" {
				t.Fatalf("results %+v", rs)
			}
			if r := rs[0]; r.Status != tc.status || !strings.Contains(r.Message, tc.msg) {
				t.Errorf("mount result %+v, want %s with %q", r, tc.status, tc.msg)
			}
		})
	}
}
