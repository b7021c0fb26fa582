package bmc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// quirkServer is an HTTPS server whose handler the test gives, and a client through
// quirks to it; seen lists "METHOD path" of every request the server got.
func quirkServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*http.Client, *trail, string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	tr := &trail{}
	// The operation's context bounds task polling: a hang guard here, minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	q := &quirks{base: srv.Client().Transport, ctx: ctx, login: inventory.Secret{Username: "u", Password: "p"}, tr: tr}
	return &http.Client{Transport: q}, tr, srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

const resetPath = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"

// A 428 is answered once more with the ETag of the resource the action belongs to, from
// the header where the BMC sends one; a BMC that has none keeps its 428, recorded as
// its refusal; a read is never resent.
func TestQuirksIfMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		method     string
		etagHeader bool
		wantStatus int
		wantSeen   []string
	}{
		{name: "ETag header", method: http.MethodPost, etagHeader: true, wantStatus: 204,
			wantSeen: []string{"POST " + resetPath, "GET /redfish/v1/Systems/1", "POST " + resetPath}},
		{name: "no ETag", method: http.MethodPost, wantStatus: 428,
			wantSeen: []string{"POST " + resetPath, "GET /redfish/v1/Systems/1"}},
		{name: "a read", method: http.MethodGet, etagHeader: true, wantStatus: 428, wantSeen: []string{"GET " + resetPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tr, url, seen := quirkServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/redfish/v1/Systems/1":
					if tc.etagHeader {
						w.Header().Set("ETag", `W/"7"`)
					}
					io.WriteString(w, `{"Id":"1"}`)
				case r.Header.Get("If-Match") == `W/"7"`:
					w.WriteHeader(http.StatusNoContent)
				default:
					w.WriteHeader(http.StatusPreconditionRequired)
					io.WriteString(w, `{"error":{"message":"If-Match required"}}`)
				}
			})
			var body io.Reader
			if tc.method != http.MethodGet {
				body = strings.NewReader(`{"ResetType":"On"}`)
			}
			req, _ := http.NewRequest(tc.method, url+resetPath, body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ref, notes, _, _ := tr.snapshot()
			if resp.StatusCode != tc.wantStatus || fmt.Sprint(seen()) != fmt.Sprint(tc.wantSeen) {
				t.Errorf("status %d, requests %q; want %d, %q", resp.StatusCode, seen(), tc.wantStatus, tc.wantSeen)
			}
			resent := tc.wantStatus == 204
			if resent != (len(notes) == 1 && strings.Contains(notes[0], "If-Match (HTTP 428)")) {
				t.Errorf("notes %q", notes)
			}
			if (ref != nil) == resent || ref != nil && (ref.Status != 428 || ref.Message != "If-Match required" || ref.Request != tc.method+" "+resetPath) {
				t.Errorf("refusal %+v", ref)
			}
		})
	}
}

// A 202 with a task monitor is followed on the BMC that answered, wherever its
// Location points; how the task ends is what the request's answer is.
func TestQuirksTaskMonitor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		location   string
		states     []string // the monitor's answers in turn: a TaskState, or "202" or "404"
		wantErr    string
		wantStatus int
		refusal    string // the MessageID recorded
		note       string
	}{
		{name: "completed after a 202", location: "/redfish/v1/TaskMonitors/1", states: []string{"202", "Completed"}, wantStatus: 200,
			note: "followed it 2 time(s)"},
		{name: "elsewhere: followed here", location: "https://evil.invalid:1/redfish/v1/TaskMonitors/1", states: []string{"Completed"}, wantStatus: 200,
			note: "followed it 1 time(s)"},
		{name: "killed", location: "/redfish/v1/TaskMonitors/1", states: []string{"Killed"}, wantErr: "ended Killed: gone", refusal: "TaskKilled"},
		{name: "cancelled", location: "/redfish/v1/TaskMonitors/1", states: []string{"Cancelled"}, wantErr: "ended Cancelled", refusal: "TaskCancelled"},
		{name: "interrupted", location: "/redfish/v1/TaskMonitors/1", states: []string{"Interrupted"}, wantErr: "ended Interrupted", refusal: "TaskInterrupted"},
		{name: "exception", location: "/redfish/v1/TaskMonitors/1", states: []string{"Exception"}, wantErr: "ended Exception", refusal: "TaskException"},
		{name: "exception without a message", location: "/redfish/v1/TaskMonitors/1", states: []string{"Exception bare"}, wantErr: "ended Exception: ", refusal: "TaskException"},
		{name: "monitor refused", location: "/redfish/v1/TaskMonitors/1", states: []string{"400"}, wantStatus: 400, refusal: ""},
		{name: "no URL", location: "%zz", wantErr: "task monitor location that is no URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			polls := 0
			c, tr, url, seen := quirkServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					w.Header().Set("Location", tc.location)
					w.WriteHeader(http.StatusAccepted)
					return
				}
				mu.Lock()
				s := tc.states[min(polls, len(tc.states)-1)]
				polls++
				mu.Unlock()
				switch s {
				case "202":
					w.WriteHeader(http.StatusAccepted)
				case "400":
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"error":{"message":"no such task"}}`)
				case "Exception bare":
					io.WriteString(w, `{"TaskState":"Exception"}`)
				default:
					fmt.Fprintf(w, `{"TaskState":%q,"Messages":[{"Message":"gone"}]}`, s)
				}
			})
			resp, err := c.Post(url+resetPath, "application/json", strings.NewReader(`{"ResetType":"On"}`))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
				}
			}
			ref, notes, _, _ := tr.snapshot()
			if tc.refusal != "" && (ref == nil || ref.MessageID != tc.refusal || ref.Request != "POST "+resetPath) {
				t.Errorf("refusal %+v, want %s", ref, tc.refusal)
			}
			if tc.wantStatus == 400 && (ref == nil || ref.Status != 400 || ref.Message != "no such task" || len(notes) != 0) {
				t.Errorf("refusal %+v, notes %q; want the monitor's 400, no task followed", ref, notes)
			}
			if tc.note != "" && (len(notes) != 1 || !strings.Contains(notes[0], tc.note) || !strings.Contains(notes[0], "ComputerSystem.Reset with a task monitor")) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
			for _, s := range seen()[1:] {
				if s != "GET /redfish/v1/TaskMonitors/1" {
					t.Errorf("request %q after the POST", s)
				}
			}
		})
	}
}

// Every answer of 400 and above is recorded as the BMC's refusal, with its message;
// below, none.
func TestQuirksRecordsRefusals(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 409, 399} {
		c, tr, url, _ := quirkServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"@Message.ExtendedInfo":[{"MessageId":"Base.1.8.X","Message":"no"}]}}`)
		})
		resp, err := c.Post(url+resetPath, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ref, _, _, _ := tr.snapshot()
		if status >= 400 && (ref == nil || ref.Status != status || ref.MessageID != "Base.1.8.X" || ref.Message != "no") || status < 400 && ref != nil {
			t.Errorf("HTTP %d: refusal %+v", status, ref)
		}
	}
}

// A 202 without a Location, or a 202 to a read, is the answer itself.
func TestQuirks202WithoutMonitor(t *testing.T) {
	t.Parallel()
	c, _, url, seen := quirkServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set("Location", "/redfish/v1/TaskMonitors/1")
		}
		w.WriteHeader(http.StatusAccepted)
	})
	resp, err := c.Post(url+resetPath, "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = c.Get(url + "/redfish/v1/Systems/1")
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	if s := seen(); len(s) != 2 {
		t.Errorf("requests %q, want no monitor followed", s)
	}
}

func TestRedfishMessageAndLogin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, id, msg string }{
		{body: `{"error":{"message":"general","@Message.ExtendedInfo":[{"MessageId":"A.1","Message":"first"},{"MessageId":"B","Message":"second"}]}}`, id: "A.1", msg: "first"},
		{body: `{"error":{"message":"only\nthis"}}`, msg: "only this"},
		{body: "<html>busy\x00</html>", msg: "<html>busy </html>"},
	} {
		if id, msg := redfishMessage([]byte(tc.body)); id != tc.id || msg != tc.msg {
			t.Errorf("%q: %q %q, want %q %q", tc.body, id, msg, tc.id, tc.msg)
		}
	}
	login := func(method, path string) bool {
		r, _ := http.NewRequest(method, "https://h"+path, nil)
		return isLogin(r)
	}
	if !login("POST", "/redfish/v1/SessionService/Sessions") || !login("POST", "/redfish/v1/SessionService/Sessions/") ||
		login("GET", "/redfish/v1/SessionService/Sessions") || login("POST", "/redfish/v1/SessionService/Sessions/7") {
		t.Error("isLogin")
	}
	if pathOf("https://h:1/redfish/v1/SessionService/Sessions/3?x=1") != "/redfish/v1/SessionService/Sessions/3" || pathOf("/a/b") != "/a/b" || pathOf("%zz") != "%zz" {
		t.Error("pathOf")
	}
}

// What a refused login says about the session limit, in the words vendors use.
func TestSessionLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  int
		body    string
		limited bool
	}{
		{status: 503, body: `{"error":{"@Message.ExtendedInfo":[{"MessageId":"Base.1.8.SessionLimitExceeded","Message":"too many"}]}}`, limited: true},
		{status: 400, body: `{"error":{"message":"The maximum number of user sessions is reached"}}`, limited: true},
		{status: 401, body: `{"error":{"message":"session limit hit"}}`, limited: true},
		{status: 503, body: `{"error":{"message":"busy"}}`},
		{status: 400, body: `{"error":{"message":"limit of something else"}}`},
		{status: 201, body: `{"error":{"message":"SessionLimitExceeded"}}`},
	} {
		resp := &http.Response{StatusCode: tc.status, Body: io.NopCloser(strings.NewReader(tc.body))}
		msg, limited := sessionLimited(resp)
		if limited != tc.limited || limited && !strings.HasPrefix(msg, fmt.Sprintf("HTTP %d ", tc.status)) {
			t.Errorf("%d %s: %q %v, want limited %v", tc.status, tc.body, msg, limited, tc.limited)
		}
		if b, _ := io.ReadAll(resp.Body); tc.status >= 400 && string(b) != tc.body {
			t.Errorf("body consumed: %q", b)
		}
	}
}
