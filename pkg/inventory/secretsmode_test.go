package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsFileModes: the secrets file is read only when neither group nor others
// can read or write it. Regression (issue 20): checking only the "others" bits
// accepted a group-readable file (0640), the usual mode of a file an admin group
// shares.
func TestSecretsFileModes(t *testing.T) {
	t.Parallel()
	inv := mustLoad(t, examplePath("site"))
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{mode: 0o600, ok: true},
		{mode: 0o400, ok: true},
		{mode: 0o700, ok: true},
		{mode: 0o640, ok: false},
		{mode: 0o620, ok: false},
		{mode: 0o610, ok: false},
		{mode: 0o604, ok: false},
		{mode: 0o602, ok: false},
		{mode: 0o601, ok: false},
		{mode: 0o644, ok: false},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "secrets.yaml")
			if err := os.WriteFile(file, []byte("bmc-supermicro: {password: sm-file-secret}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tc.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			sec, err := (&Secrets{File: file}).Resolve(inv, "bmc-supermicro")
			if tc.ok {
				if err != nil || sec.Password != "sm-file-secret" {
					t.Fatalf("mode %04o: %v; want the password read", tc.mode, err)
				}
				return
			}
			want := fmt.Sprintf("has mode %04o: run 'chmod 600 %s'", tc.mode, file)
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "sm-file-secret") {
				t.Fatalf("mode %04o: %v; want a refusal containing %q and not the password", tc.mode, err, want)
			}
		})
	}
}
