package bmc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// quirks is the Redfish HTTP layer under bmclib and gofish that copes with what real
// BMCs do and the libraries do not: a 428 demanding If-Match (Supermicro), a 202 with
// a task monitor to follow, a login refused because the BMC's few sessions are taken
// (iDRAC). It also keeps a trail of what the BMC answered, so a failure can be told
// apart: no answer, a refusal (HTTP status and the BMC's own message), or accepted.
type quirks struct {
	base  http.RoundTripper
	ctx   context.Context // the operation's: bounds task polling
	login inventory.Secret
	tr    *trail
}

// trail is what one operation's requests met on the BMC.
type trail struct {
	mu       sync.Mutex
	refusal  *Refusal
	notes    []string
	limit    string    // the session limit was still hit after releasing racklift's own
	taskWait string    // a task monitor still running at the deadline
	accepted time.Time // a change request the BMC accepted (2xx, or its task completed)
}

func (t *trail) note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *trail) snapshot() (ref *Refusal, notes []string, limit, task string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refusal, append([]string(nil), t.notes...), t.limit, t.taskWait
}

// Refusal is a BMC's answer refusing a request: its HTTP status and the message of
// its Redfish @Message.ExtendedInfo (or error.message), sanitized and bounded.
type Refusal struct {
	Status    int    `json:"http_status"`
	MessageID string `json:"message_id,omitempty"`
	Message   string `json:"message,omitempty"`
	Request   string `json:"request"` // method and path, e.g. POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset
}

func (r *Refusal) String() string {
	s := fmt.Sprintf("HTTP %d", r.Status)
	if r.Status < 400 { // a task that failed after the request was accepted
		s = "the task it started for the request ended"
	}
	if r.MessageID != "" {
		s += " " + r.MessageID
	}
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s + " (" + r.Request + ")"
}

// liveSessions are the session URIs this process holds open now: a session-limit
// cleanup never deletes those, only ones left behind.
var liveSessions sync.Map // host + session path -> struct{}

const maxBody = 64 << 10

func (q *quirks) CloseIdleConnections() {
	if c, ok := q.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (q *quirks) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	resp, err := q.send(req, body, nil)
	if err != nil {
		return nil, err
	}
	change := req.Method == http.MethodPatch || req.Method == http.MethodPost && !isLogin(req)
	if resp.StatusCode == http.StatusPreconditionRequired && change {
		if tag := q.etagFor(req); tag != "" {
			discard(resp)
			q.tr.note("the BMC demanded If-Match (HTTP 428) for %s %s: sent again with its ETag", req.Method, req.URL.Path)
			if resp, err = q.send(req, body, map[string]string{"If-Match": tag}); err != nil {
				return nil, err
			}
		}
	}
	if isLogin(req) {
		if msg, limited := sessionLimited(resp); limited {
			discard(resp)
			released, rerr := q.releaseStale(req)
			if resp, err = q.send(req, body, nil); err != nil {
				return nil, err
			}
			if _, still := sessionLimited(resp); still {
				why := fmt.Sprintf("the BMC refused the login: %s; racklift released %d stale session(s) of its own and tried once more", msg, released)
				if rerr != nil {
					why += fmt.Sprintf(" (listing the sessions failed: %v)", rerr)
				}
				q.tr.mu.Lock()
				q.tr.limit = why
				q.tr.mu.Unlock()
			} else {
				q.tr.note("the BMC's session limit was reached (%s): released %d stale session(s) of user %s and logged in", msg, released, q.login.Username)
			}
		}
	}
	if resp.StatusCode == http.StatusAccepted && change && resp.Header.Get("Location") != "" {
		if resp, err = q.followTask(req, resp); err != nil {
			return nil, err
		}
	}
	switch {
	case resp.StatusCode >= 400:
		q.record(req, resp)
	case change && resp.StatusCode < 300:
		q.tr.mu.Lock()
		q.tr.accepted = time.Now()
		q.tr.mu.Unlock()
	}
	if isLogin(req) && resp.StatusCode == http.StatusCreated {
		if loc := resp.Header.Get("Location"); loc != "" {
			liveSessions.Store(req.URL.Host+pathOf(loc), struct{}{})
		}
	}
	if req.Method == http.MethodDelete && strings.Contains(req.URL.Path, "/SessionService/Sessions/") {
		liveSessions.Delete(req.URL.Host + req.URL.Path)
	}
	return resp, nil
}

// send sends req again with body and extra headers.
func (q *quirks) send(req *http.Request, body []byte, extra map[string]string) (*http.Response, error) {
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	return q.base.RoundTrip(r)
}

// get is a GET on the BMC with the request's own authentication, or basic auth.
func (q *quirks) get(ctx context.Context, like *http.Request, u *url.URL, method string) (*http.Response, error) {
	r, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if like != nil {
		for _, h := range []string{"X-Auth-Token", "Authorization"} {
			if v := like.Header.Get(h); v != "" {
				r.Header.Set(h, v)
			}
		}
	}
	if r.Header.Get("X-Auth-Token") == "" && r.Header.Get("Authorization") == "" {
		r.SetBasicAuth(q.login.Username, q.login.Password)
	}
	r.Header.Set("Accept", "application/json")
	return q.base.RoundTrip(r)
}

func isLogin(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(strings.TrimRight(req.URL.Path, "/"), "/SessionService/Sessions")
}

func pathOf(loc string) string {
	if u, err := url.Parse(loc); err == nil {
		return u.Path
	}
	return loc
}

func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
	resp.Body.Close()
}

// peek reads a bounded copy of resp's body and leaves the body readable.
func peek(resp *http.Response) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// etagFor fetches the ETag of the resource a change addresses (for an action, the
// resource the action belongs to): the header, else the body's @odata.etag.
func (q *quirks) etagFor(req *http.Request) string {
	u := *req.URL
	if i := strings.Index(u.Path, "/Actions/"); i >= 0 {
		u.Path = u.Path[:i]
	}
	resp, err := q.get(req.Context(), req, &u, http.MethodGet)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if tag := resp.Header.Get("ETag"); tag != "" {
		return tag
	}
	var doc struct {
		ETag string `json:"@odata.etag"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&doc)
	return doc.ETag
}

// redfishMessage is the message of a Redfish error body: the first ExtendedInfo's,
// else error.message.
func redfishMessage(body []byte) (id, msg string) {
	var doc struct {
		Error struct {
			Message string `json:"message"`
			Info    []struct {
				MessageID string `json:"MessageId"`
				Message   string `json:"Message"`
			} `json:"@Message.ExtendedInfo"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", Sanitize(string(body), 200)
	}
	msg = doc.Error.Message
	if len(doc.Error.Info) > 0 {
		id, msg = doc.Error.Info[0].MessageID, doc.Error.Info[0].Message
	}
	return Sanitize(id, 80), Sanitize(msg, 300)
}

// record keeps the BMC's refusal of req.
func (q *quirks) record(req *http.Request, resp *http.Response) {
	id, msg := redfishMessage(peek(resp))
	q.tr.mu.Lock()
	defer q.tr.mu.Unlock()
	q.tr.refusal = &Refusal{Status: resp.StatusCode, MessageID: id, Message: msg, Request: req.Method + " " + Sanitize(req.URL.Path, 200)}
}

// sessionLimited reports whether a login answer says the BMC's sessions are all taken.
func sessionLimited(resp *http.Response) (string, bool) {
	if resp.StatusCode < 400 {
		return "", false
	}
	body := peek(resp)
	l := strings.ToLower(string(body))
	if !strings.Contains(l, "sessionlimitexceeded") && !(strings.Contains(l, "session") && (strings.Contains(l, "maximum number") || strings.Contains(l, "limit"))) {
		return "", false
	}
	id, msg := redfishMessage(body)
	return strings.TrimSpace(fmt.Sprintf("HTTP %d %s %s", resp.StatusCode, id, msg)), true
}

// releaseStale deletes the sessions of racklift's user opened over Redfish that this
// process does not hold: sessions an earlier run left behind (killed, or timed out
// before its logout). Web UI and other users' sessions are never touched.
func (q *quirks) releaseStale(login *http.Request) (int, error) {
	ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
	defer cancel()
	u := *login.URL
	u.RawQuery = ""
	basic := &http.Request{Header: http.Header{}}
	basic.SetBasicAuth(q.login.Username, q.login.Password)
	resp, err := q.get(ctx, basic, &u, http.MethodGet)
	if err != nil {
		return 0, err
	}
	var coll struct {
		Members []struct {
			ID string `json:"@odata.id"`
		} `json:"Members"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&coll)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d", u.Path, resp.StatusCode)
	}
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u.Path, err)
	}
	released := 0
	for i, m := range coll.Members {
		if i >= 256 {
			break
		}
		su := u
		su.Path = pathOf(m.ID)
		if _, live := liveSessions.Load(u.Host + su.Path); live {
			continue
		}
		resp, err := q.get(ctx, basic, &su, http.MethodGet)
		if err != nil {
			return released, err
		}
		var s struct {
			UserName, SessionType string
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&s)
		resp.Body.Close()
		if s.UserName != q.login.Username || s.SessionType != "" && s.SessionType != "Redfish" {
			continue
		}
		resp, err = q.get(ctx, basic, &su, http.MethodDelete)
		if err != nil {
			return released, err
		}
		discard(resp)
		if resp.StatusCode < 300 {
			released++
		}
	}
	return released, nil
}

// followTask polls the task monitor a change was answered with until the task ends
// or the operation's deadline: a BMC that answers 202 has only promised to act.
func (q *quirks) followTask(req *http.Request, first *http.Response) (*http.Response, error) {
	loc, err := req.URL.Parse(first.Header.Get("Location"))
	discard(first)
	if err != nil {
		return nil, fmt.Errorf("the BMC answered 202 with a task monitor location that is no URL: %w", err)
	}
	loc.Host, loc.Scheme = req.URL.Host, req.URL.Scheme // never follow it elsewhere
	start := time.Now()
	wait := 200 * time.Millisecond
	for polls := 1; ; polls++ {
		select {
		case <-q.ctx.Done():
			q.tr.mu.Lock()
			q.tr.taskWait = fmt.Sprintf("the BMC accepted %s %s with a task monitor (HTTP 202, %s) and the task was still running after %s at the deadline",
				req.Method, req.URL.Path, Sanitize(loc.Path, 200), time.Since(start).Round(100*time.Millisecond))
			q.tr.mu.Unlock()
			return nil, q.ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		resp, err := q.get(q.ctx, req, loc, http.MethodGet)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusAccepted {
			discard(resp)
			continue
		}
		if resp.StatusCode >= 400 {
			return resp, nil
		}
		var task struct {
			TaskState string
			Messages  []struct{ MessageID, Message string }
		}
		_ = json.Unmarshal(peek(resp), &task)
		switch task.TaskState {
		case "Exception", "Killed", "Cancelled", "Interrupted":
			msg := ""
			if len(task.Messages) > 0 {
				msg = Sanitize(task.Messages[0].Message, 300)
			}
			q.tr.mu.Lock()
			q.tr.refusal = &Refusal{Status: resp.StatusCode, MessageID: "Task" + task.TaskState, Message: msg, Request: req.Method + " " + req.URL.Path}
			q.tr.mu.Unlock()
			discard(resp)
			return nil, fmt.Errorf("the BMC's task for %s %s ended %s: %s", req.Method, req.URL.Path, task.TaskState, msg)
		}
		q.tr.note("the BMC answered %s with a task monitor (HTTP 202): followed it %d time(s), done after %s",
			req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:], polls, time.Since(start).Round(10*time.Millisecond))
		return resp, nil
	}
}

// Sanitize makes text from the network fit to print: control characters and invalid
// UTF-8 replaced, runs of white space collapsed, at most max bytes.
func Sanitize(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xc0 != 0x80 }
