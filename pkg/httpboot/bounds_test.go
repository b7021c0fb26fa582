package httpboot

import (
	"net/url"
	"strings"
	"testing"
)

// Issue 14 items 1 and 6: a callback's stage and an install file name come from anyone on
// the provisioning network. Only the known stages and short plain names are accepted; the
// rest is refused and the event carries no more than a short escaped prefix.
func TestCallbackAndInstallBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	long := strings.Repeat("A", 500_000)
	for _, tc := range []struct {
		name     string
		path     string
		wantCode int
	}{
		{name: "known stage", path: "/callback/52:54:00:04:00:01?stage=booted", wantCode: 200},
		{name: "long stage", path: "/callback/52:54:00:04:00:01?stage=" + long, wantCode: 400},
		{name: "escape stage", path: "/callback/52:54:00:04:00:01?stage=" + url.QueryEscape("\x1b]0;owned\x07"), wantCode: 400},
		{name: "long file", path: "/install/52:54:00:04:00:01/" + strings.Repeat("f", 200), wantCode: 404},
		{name: "escape file", path: "/install/52:54:00:04:00:01/" + url.PathEscape("a\x1b[2Jb"), wantCode: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := get(t, f.srv.URL+tc.path)
			if code != tc.wantCode {
				t.Errorf("GET %.60s: %d, want %d", tc.path, code, tc.wantCode)
			}
		})
	}
	for _, e := range f.ev.Recent("lab-01") {
		if len(e.Detail)+len(e.Err) > 400 {
			t.Errorf("event %s keeps %d bytes of request text", e.Kind, len(e.Detail)+len(e.Err))
		}
		if strings.ContainsAny(e.Detail+e.Err, "\x1b\x07") {
			t.Errorf("event %s keeps raw escape bytes: %q", e.Kind, e.Detail+e.Err)
		}
	}
	if f.state.Installed("lab-01") {
		t.Error("a refused callback marked the node installed")
	}
}
