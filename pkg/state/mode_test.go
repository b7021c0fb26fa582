package state

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStateFileModes: state.db holds agent token hashes and node records; it is
// created 0600 in a 0700 directory (issue 20: these modes were untested).
func TestStateFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{path: dir, want: 0o700},
		{path: filepath.Join(dir, FileName), want: 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s: mode %04o, want %04o", tc.path, got, tc.want)
		}
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path() = %s", s.Path())
	}
}
