package api

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// Issue 14 item 6: text a client sent (a DHCP hostname, a stage, a check message) reaches
// `provision events`, `status` and `report` with its escape bytes shown escaped.
func TestTextShowsEscapesEscaped(t *testing.T) {
	t.Parallel()
	const evil = "ok\x1b]0;owned\x07\x1b[2J\rFAKE"
	const shown = `ok\x1b]0;owned\x07\x1b[2J\x0dFAKE`
	now := time.Now()
	ev := state.Event{Seq: 1, Node: "gpu-01", Kind: "http.callback", Time: now, Detail: evil}
	st := NodeStatus{Name: "gpu-01", Phase: lifecycle.Failed, Reason: evil, LastEvent: &ev}
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{name: "events table", write: func(b *bytes.Buffer) error { return WriteEvents(b, []state.Event{ev}) }},
		{name: "events line", write: func(b *bytes.Buffer) error { return WriteEventLine(b, ev, false) }},
		{name: "status", write: func(b *bytes.Buffer) error {
			return NewStatusReport("test", []NodeStatus{st}).WriteText(b, now)
		}},
		{name: "report", write: func(b *bytes.Buffer) error {
			d := NodeDetail{NodeStatus: st, Report: &check.Report{Agent: evil, Results: []check.Result{{Name: "gpu.count", Status: check.Fail, Message: evil}}}}
			return d.WriteReport(b)
		}},
		{name: "no report", write: func(b *bytes.Buffer) error {
			b.WriteString(NodeDetail{NodeStatus: st}.NoReport().Error())
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if strings.ContainsAny(out, "\x1b\x07\r") {
				t.Errorf("raw escape bytes printed: %q", out)
			}
			if !strings.Contains(out, shown) {
				t.Errorf("output does not show the escapes escaped (%s):\n%q", shown, out)
			}
		})
	}
}

func TestWriteDropped(t *testing.T) {
	t.Parallel()
	r := state.Retention{MaxEvents: 100, MaxAge: time.Hour, DroppedThrough: 40}
	for _, tc := range []struct {
		name  string
		r     state.Retention
		after uint64
		want  string
	}{
		{name: "dropped", r: r, after: 0, want: "older events dropped"},
		{name: "since past the drop", r: r, after: 40, want: ""},
		{name: "nothing dropped", r: state.Retention{MaxEvents: 100}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteDropped(&b, tc.r, tc.after); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.want) || (tc.want == "") != (b.Len() == 0) {
				t.Errorf("WriteDropped = %q, want %q", b.String(), tc.want)
			}
		})
	}
}
