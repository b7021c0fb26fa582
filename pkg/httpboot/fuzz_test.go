package httpboot

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/templates"
)

// FuzzBootRequests sends arbitrary MACs, stages and install file names to the callback
// and install endpoints, which anyone on the provisioning network can reach: no panic,
// no status outside the expected ones, and the events keep only short, escaped text.
func FuzzBootRequests(f *testing.F) {
	f.Add("52:54:00:04:00:01", "installed", "user-data")
	f.Add("52:54:00:04:00:01", "\x1b]0;x\x07", "../../etc/passwd")
	f.Add("zz", strings.Repeat("A", 5000), strings.Repeat("f", 300))
	ev := events.New(nil, nil)
	h, err := New(Config{Plans: fixed{examplePlan(f, "lab")}, Templates: templates.FS, Events: ev})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, mac, stage, file string) {
		for _, target := range []string{
			"/callback/" + url.PathEscape(mac) + "?stage=" + url.QueryEscape(stage),
			"/install/" + url.PathEscape(mac) + "/" + url.PathEscape(file),
		} {
			req, err := http.NewRequest(http.MethodGet, "http://serve"+target, nil)
			if err != nil {
				return
			}
			req.RemoteAddr = "10.204.0.50:40000"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusInternalServerError:
			default:
				t.Fatalf("GET %q: status %d", target, w.Code)
			}
		}
		for _, e := range ev.Recent("") {
			if len(e.Detail) > 600 || len(e.Err) > 600 {
				t.Fatalf("event %s keeps %d+%d bytes of request text", e.Kind, len(e.Detail), len(e.Err))
			}
			if e.Node != "" && strings.ContainsAny(e.Detail, "\x00\x07\x1b\r\n") {
				t.Fatalf("event %s of node %s keeps raw control bytes: %q", e.Kind, e.Node, e.Detail)
			}
		}
	})
}
