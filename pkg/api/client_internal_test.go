package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestClientDoAnswers: the control client sends JSON bodies as JSON (and a GET without a
// content type), copies a 2xx body to a writer, never a failure's; a failure is a
// StatusError with the server's JSON error, or its plain text, or the raw body.
// Mutants (make mutate, issue 20): the content-type, 2xx and error-body tests in do.
func TestClientDoAnswers(t *testing.T) {
	t.Parallel()
	type seen struct{ method, ctype, auth, body string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "table\n")
		case "/json-error":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no node gpu-09 in the inventory"}`)
		case "/plain-error":
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream down\n")
		case "/empty-error":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"other":1}`)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	var out bytes.Buffer
	if err := c.do(ctx, "GET", "/ok", nil, &out); err != nil || out.String() != "table\n" {
		t.Errorf("GET /ok into a writer = %q, %v", out.String(), err)
	}
	if s := <-got; s.ctype != "" || s.auth != "Bearer tok" || s.body != "" {
		t.Errorf("GET sent %+v, want no content type, the bearer token, no body", s)
	}
	if err := c.do(ctx, "POST", "/ok", map[string]int{"n": 1}, &out); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.ctype != "application/json" || s.body != `{"n":1}` {
		t.Errorf("POST sent %+v, want a JSON body with its content type", s)
	}
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{path: "/json-error", code: 404, msg: "no node gpu-09 in the inventory"},
		{path: "/plain-error", code: 502, msg: "upstream down"},
		{path: "/empty-error", code: 409, msg: `{"other":1}`},
	} {
		out.Reset()
		err := c.do(ctx, "GET", tc.path, nil, &out)
		<-got
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tc.code || se.Msg != tc.msg {
			t.Errorf("GET %s = %v, want StatusError %d %q", tc.path, err, tc.code, tc.msg)
		}
		if out.Len() != 0 {
			t.Errorf("GET %s wrote the failure's body %q to the caller's writer", tc.path, out.String())
		}
	}
}

// TestClientEventsQuery: the events query carries after always, limit and wait only when
// set (0 means none: the server's default, no long poll), on the node's path for a node.
func TestClientEventsQuery(t *testing.T) {
	t.Parallel()
	urls := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls <- r.URL.String()
		io.WriteString(w, "[]")
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		node  string
		after uint64
		limit int
		wait  time.Duration
		want  string
	}{
		{node: "", after: 0, want: PathEvents + "?after=0"},
		{node: "gpu-01", after: 7, want: PathNodes + "/gpu-01/events?after=7"},
		{node: "", after: 3, limit: 1, wait: time.Millisecond, want: PathEvents + "?after=3&limit=1&wait=1ms"},
	} {
		if _, err := c.Events(context.Background(), tc.node, tc.after, tc.limit, tc.wait); err != nil {
			t.Fatal(err)
		}
		if got := <-urls; got != tc.want {
			t.Errorf("Events(%q, %d, %d, %v) asked %s, want %s", tc.node, tc.after, tc.limit, tc.wait, got, tc.want)
		}
	}
}
