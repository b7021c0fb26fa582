package main

import (
	"strings"
	"testing"
)

// Bad input is refused before any disk is looked at, naming what is wrong.
func TestDeployRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no sha256", args: []string{"deploy", "--image", "http://127.0.0.1:1/x.raw"}, want: `"sha256" not set`},
		{name: "short sha256", args: []string{"deploy", "--image", "http://127.0.0.1:1/x.raw", "--sha256", "abc"}, want: "not 64 hex digits: no checksum, no deploy"},
		{name: "bad hostname", args: []string{"deploy", "--image", "http://127.0.0.1:1/x.raw", "--sha256", strings.Repeat("a", 64), "--hostname", "a b"}, want: `hostname "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runAgent(t, tc.args...)
			if code == 0 || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want non-zero and %q in\n%s%s", code, tc.want, stdout, stderr)
			}
		})
	}
}
