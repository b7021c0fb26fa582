package provisioner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/provisioner"
)

// TestControlTokenModeAtEachStep: api.token is 0600 the moment it is created, not only
// after the next start tightens it, and a token someone made group- or world-readable
// is 0600 again after the next start, with the same value. Regression (issue 20, put
// back by hand): writing it 0644, or tightening only for "other" bits (&0o007), passed
// TestControlTokenAndSocketModes, whose second start repaired the first.
func TestControlTokenModeAtEachStep(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	tok, err := provisioner.LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	mode := func() os.FileMode {
		t.Helper()
		fi, err := os.Stat(api.TokenPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if got := mode(); got != 0o600 {
		t.Errorf("api.token created %04o, want 0600", got)
	}
	for _, loose := range []os.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(api.TokenPath(dir), loose); err != nil {
			t.Fatal(err)
		}
		again, err := provisioner.LoadOrCreateToken(dir)
		if err != nil || again != tok {
			t.Fatalf("start with api.token %04o: %q, %v; want the same token", loose, again, err)
		}
		if got := mode(); got != 0o600 {
			t.Errorf("api.token left %04o after a start found it %04o, want 0600", got, loose)
		}
	}
}
