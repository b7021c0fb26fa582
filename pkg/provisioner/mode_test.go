package provisioner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/provisioner"
)

// TestControlTokenAndSocketModes: api.token is the control API's only credential: it
// is created 0600 (the state dir 0700), kept across restarts, and the control socket is
// 0600 (issue 20: these modes were untested).
func TestControlTokenAndSocketModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	tok, err := provisioner.LoadOrCreateToken(dir)
	if err != nil || len(tok) < 40 {
		t.Fatalf("token %q, %v; want 32 random bytes, base64", tok, err)
	}
	again, err := provisioner.LoadOrCreateToken(dir)
	if err != nil || again != tok {
		t.Errorf("second start read %q, %v; want the same token", again, err)
	}
	l, err := provisioner.ListenUnix(api.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{path: dir, want: 0o700},
		{path: api.TokenPath(dir), want: 0o600},
		{path: api.SocketPath(dir), want: 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s: mode %04o, want %04o", tc.path, got, tc.want)
		}
	}
}
