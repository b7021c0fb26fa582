package main

import (
	"bytes"
	"strings"
	"testing"
)

// runLab runs racklift-lab in-process on a fresh command tree.
func runLab(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// Bad input is refused before anything is built, with the error after the command's name.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "extra", args: []string{"up", "--dir", dir, "--extra", "lab-04,redfish,notaport,52:54:00:04:00:04"},
			want: "racklift-lab: --extra \"lab-04,redfish,notaport,52:54:00:04:00:04\": BMC port \"notaport\" is not a port number\n"},
		{name: "output", args: []string{"counts", "--dir", dir, "-o", "xml"},
			want: "racklift-lab: unknown output format \"xml\": use table, wide, name, json or yaml\n"},
		{name: "no rack", args: []string{"counts", "--dir", dir}, want: "racklift-lab: no virtual rack status in " + dir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runLab(t, tc.args...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, tc.want) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errOut, tc.want)
			}
		})
	}
}
