package bmc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// roundTripFunc answers requests in-process.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer(status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader("{}"))}
}

// A quirk's own request (an ETag fetch, a session list) carries the operation's
// authentication: its session token or its Authorization, never both; basic auth only
// when the operation has none.
func TestQuirksGetKeepsTheRequestsAuth(t *testing.T) {
	t.Parallel()
	basic := func() string {
		r, _ := http.NewRequest(http.MethodGet, "https://h", nil)
		r.SetBasicAuth("u", "p")
		return r.Header.Get("Authorization")
	}()
	for _, tc := range []struct {
		name      string
		like      http.Header // nil: no request to copy from
		wantToken string
		wantAuth  string
	}{
		{name: "no request", wantAuth: basic},
		{name: "request without auth", like: http.Header{}, wantAuth: basic},
		{name: "session token", like: http.Header{"X-Auth-Token": {"tok"}}, wantToken: "tok"},
		{name: "own authorization", like: http.Header{"Authorization": {"Bearer other"}}, wantAuth: "Bearer other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got http.Header
			q := &quirks{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.Header.Clone()
				return answer(http.StatusOK, nil), nil
			}), ctx: context.Background(), login: inventory.Secret{Username: "u", Password: "p"}, tr: &trail{}}
			var like *http.Request
			if tc.like != nil {
				like = &http.Request{Header: tc.like}
			}
			u, _ := url.Parse("https://bmc.invalid/redfish/v1/Systems/1")
			resp, err := q.get(context.Background(), like, u, http.MethodGet)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got.Get("X-Auth-Token") != tc.wantToken || got.Get("Authorization") != tc.wantAuth {
				t.Errorf("token %q, authorization %q; want %q, %q", got.Get("X-Auth-Token"), got.Get("Authorization"), tc.wantToken, tc.wantAuth)
			}
		})
	}
}

// The sessions this process logged in with are live until it logs out of them: a
// DELETE of the session forgets it, a read of it does not.
func TestQuirksForgetsLoggedOutSessions(t *testing.T) {
	t.Parallel()
	const host = "forget-sessions.invalid"
	const session = "/redfish/v1/SessionService/Sessions/7"
	q := &quirks{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if isLogin(r) {
			return answer(http.StatusCreated, http.Header{"Location": {"https://" + host + session}}), nil
		}
		return answer(http.StatusOK, nil), nil
	}), ctx: context.Background(), login: inventory.Secret{Username: "u", Password: "p"}, tr: &trail{}}
	live := func() bool { _, ok := liveSessions.Load(host + session); return ok }
	do := func(method, path string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+host+path, nil)
		resp, err := q.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(http.MethodPost, "/redfish/v1/SessionService/Sessions")
	if !live() {
		t.Fatal("a session logged in is not live")
	}
	do(http.MethodGet, session)
	if !live() {
		t.Fatal("reading the session forgot it")
	}
	do(http.MethodDelete, session)
	if live() {
		t.Fatal("a session logged out of is still live")
	}
}

// Releasing stale sessions looks at 256 of them at most (a BMC's list is bounded before
// it is walked), and counts as released only the ones whose DELETE succeeded (2xx).
func TestReleaseStaleBoundedAndCounted(t *testing.T) {
	t.Parallel()
	const sessions = "/redfish/v1/SessionService/Sessions"
	var mu sync.Mutex
	deletes := 0
	c, _, base, _ := quirkServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == sessions:
			var m []string
			for i := range 300 {
				m = append(m, fmt.Sprintf(`{"@odata.id":"%s/%d"}`, sessions, i))
			}
			io.WriteString(w, `{"Members":[`+strings.Join(m, ",")+`]}`)
		case r.Method == http.MethodGet:
			io.WriteString(w, `{"UserName":"u","SessionType":"Redfish"}`)
		case r.Method == http.MethodDelete:
			mu.Lock()
			deletes++
			mu.Unlock()
			if strings.HasSuffix(r.URL.Path, "/1") {
				w.WriteHeader(http.StatusMultipleChoices) // not a deletion
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	})
	login, _ := http.NewRequest(http.MethodPost, base+sessions, nil)
	released, err := c.Transport.(*quirks).releaseStale(login)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if deletes != 256 || released != 255 {
		t.Errorf("%d DELETEs, %d released; want 256 and 255 (one answered 300)", deletes, released)
	}
}

// A task followed to its end is named by the action's last path element, with how long
// it took in tens of milliseconds; one still running at the deadline says so, in tenths
// of a second.
func TestFollowTaskNotes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		state   string
		timeout time.Duration
		want    *regexp.Regexp
	}{
		{name: "done", state: "Completed", timeout: time.Minute,
			want: regexp.MustCompile(`^the BMC answered ComputerSystem\.Reset with a task monitor \(HTTP 202\): followed it 1 time\(s\), done after (\d+ms|\d+(\.\d\d?)?s)$`)},
		{name: "still running", state: "Running", timeout: 700 * time.Millisecond,
			want: regexp.MustCompile(`^the BMC accepted POST /redfish/v1/Systems/1/Actions/ComputerSystem\.Reset with a task monitor \(HTTP 202, /redfish/v1/TaskMonitors/1\) and the task was still running after (\d+ms|\d+(\.\d)?s) at the deadline$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			tr := &trail{}
			q := &quirks{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				time.Sleep(3 * time.Millisecond) // durations not already round
				resp := answer(http.StatusOK, nil)
				resp.Body = io.NopCloser(strings.NewReader(`{"TaskState":` + strconv.Quote(tc.state) + `}`))
				if tc.state == "Running" {
					resp.StatusCode = http.StatusAccepted
				}
				return resp, nil
			}), ctx: ctx, login: inventory.Secret{Username: "u", Password: "p"}, tr: tr}
			req, _ := http.NewRequest(http.MethodPost, "https://bmc.invalid"+resetPath, nil)
			resp, err := q.followTask(req, answer(http.StatusAccepted, http.Header{"Location": {"/redfish/v1/TaskMonitors/1"}}))
			if err == nil {
				resp.Body.Close()
			}
			_, notes, _, task := tr.snapshot()
			got := task
			if tc.state != "Running" {
				if len(notes) != 1 {
					t.Fatalf("notes %q, want one", notes)
				}
				got = notes[0]
			}
			if !tc.want.MatchString(got) {
				t.Errorf("%q does not match %s", got, tc.want)
			}
		})
	}
}

// keepAlive keeps the connection whichever way a library asks to close it: the
// request's Close or its own "Connection: close" header.
func TestKeepAliveDropsConnectionClose(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var closes []bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		closes = append(closes, r.Close)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	k := keepAlive{base: srv.Client().Transport.(*http.Transport)}
	for _, viaField := range []bool{true, false} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if viaField {
			req.Close = true
		} else {
			req.Header.Set("Connection", "close")
		}
		resp, err := k.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(closes) != 2 || closes[0] || closes[1] {
		t.Errorf("the server saw Connection: close %v; want false, false", closes)
	}
}
