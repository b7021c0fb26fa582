package state

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestExistingStateDirTightened: a state dir that already existed with group or other
// access (a mkdir under umask 022, an operator's chmod) is 0700 after Open: it holds
// state.db, the CA key and the control token. Regression (put back by hand): tightening
// only for "other" bits (&0o007) left a 0750 dir as it was; TestStateFileModes creates
// the dir itself, so it never saw it.
func TestExistingStateDirTightened(t *testing.T) {
	t.Parallel()
	for _, loose := range []os.FileMode{0o750, 0o705, 0o770} {
		t.Run(fmt.Sprintf("%04o", uint32(loose)), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, loose); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, loose); err != nil { // past the umask
				t.Fatal(err)
			}
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o700 {
				t.Errorf("state dir found %04o is %04o after Open, want 0700", loose, got)
			}
		})
	}
}
