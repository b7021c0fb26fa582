package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/sanitize"
	"github.com/racklift/racklift/pkg/state"
)

// WriteEvents prints events as a table.
func WriteEvents(w io.Writer, evs []state.Event) error {
	rows := output.Rows{Header: []string{"SEQ", "TIME", "NODE", "KIND", "PHASE", "DETAIL"}}
	for _, e := range evs {
		rows.Add(fmt.Sprint(e.Seq), e.Time.Local().Format("15:04:05.000"), e.Node, e.Kind, orDash(e.Phase), e.Detail)
	}
	return rows.Write(w)
}

// WriteEventLine prints one event as it comes: a JSON line, or tab-separated columns.
func WriteEventLine(w io.Writer, e state.Event, asJSON bool) error {
	if asJSON {
		// One line per event, && and <> as they are (as -o json prints them).
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(e)
	}
	_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format("15:04:05.000"), field(e.Node), field(e.Kind), field(orDash(e.Phase)), field(e.Detail))
	return err
}

// field is one tab-separated field made safe to print: escapes shown escaped, no tabs.
func field(s string) string { return strings.ReplaceAll(sanitize.Escape(s), "\t", `\t`) }

// WriteDropped prints the note that the log no longer holds events up to r.DroppedThrough,
// when the query asked for some of them (after is the query's --since).
func WriteDropped(w io.Writer, r state.Retention, after uint64) error {
	if r.DroppedThrough == 0 || after >= r.DroppedThrough {
		return nil
	}
	_, err := fmt.Fprintf(w, "note: older events dropped: the log keeps the last %d events and %s, and no longer holds events up to %d\n",
		r.MaxEvents, r.MaxAge, r.DroppedThrough)
	return err
}

// FollowEvents calls fn with node's events (every node's for "") after seq since, at most
// limit of those already there (0: all), then with each new one as serve logs it, until
// ctx ends. It needs a running serve: the state alone has no new events.
func FollowEvents(ctx context.Context, src Source, node string, since uint64, limit int, fn func(state.Event) error) error {
	if _, local := src.(*Local); local {
		return fmt.Errorf("--follow needs a running serve: %s", src.Describe())
	}
	evs, err := src.Events(ctx, node, since, limit, 0)
	if err != nil {
		return err
	}
	after := since
	for {
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Seq
		}
		if ctx.Err() != nil {
			return nil
		}
		if evs, err = src.Events(ctx, node, after, 0, 30*time.Second); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
