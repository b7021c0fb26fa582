// Package output prints command results as a human table or as JSON/YAML for scripts.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/sanitize"
)

// Formats accepted by -o.
const (
	Table = "table"
	Wide  = "wide" // the table with its extra columns
	Name  = "name" // only the first column of the table rows (node names), for xargs
	JSON  = "json"
	YAML  = "yaml"
)

// Formats is the -o help text.
const Formats = "output format: table, wide (more columns), name (names only), json or yaml"

// Check reports whether format is one -o accepts.
func Check(format string) error {
	switch format {
	case Table, Wide, Name, JSON, YAML, "":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use table, wide, name, json or yaml", format)
}

// Structured reports whether format is for programs (JSON, YAML) rather than a table.
func Structured(format string) bool { return format == JSON || format == YAML }

// Options are how a command's result is printed: -o and --no-headers.
type Options struct {
	Format    string
	NoHeaders bool // tables without their header row
}

// Rows is a human table. Cells past len(Header) are the Wide columns, shown by -o wide.
type Rows struct {
	Header []string
	Wide   []string
	Rows   [][]string
}

// Add appends one row.
func (r *Rows) Add(cells ...string) { r.Rows = append(r.Rows, cells) }

// Write prints the table with aligned columns; on the writer Print hands a table
// function, as -o wide, -o name and --no-headers say.
func (r *Rows) Write(w io.Writer) error {
	var o tableOut
	if t, ok := w.(*tableOut); ok {
		o = *t
		w = t.w
		t.rows = true
	}
	if o.name {
		for _, row := range r.Rows {
			if len(row) > 0 {
				fmt.Fprintln(w, cell(row[0]))
			}
		}
		return nil
	}
	cols := len(r.Header)
	if o.wide || cols == 0 {
		cols = -1
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Header) > 0 && !o.noHeaders {
		h := r.Header
		if o.wide {
			h = append(slices.Clip(h), r.Wide...)
		}
		fmt.Fprintln(tw, strings.Join(h, "\t"))
	}
	for _, row := range r.Rows {
		if cols >= 0 && len(row) > cols {
			row = row[:cols]
		}
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// tableOut is the writer a table function gets: Rows.Write reads the options from it;
// other text passes through, except with -o name, where only the names are printed.
type tableOut struct {
	w                     io.Writer
	wide, name, noHeaders bool
	rows                  bool // a Rows was written
}

func (t *tableOut) Write(p []byte) (int, error) {
	if t.name {
		return len(p), nil
	}
	return t.w.Write(p)
}

// Print writes data as JSON or YAML, or calls table for the human form.
func Print(w io.Writer, format string, data any, table func(io.Writer) error) error {
	return PrintOpts(w, Options{Format: format}, data, table)
}

// PrintOpts is Print with --no-headers.
func PrintOpts(w io.Writer, o Options, data any, table func(io.Writer) error) error {
	switch o.Format {
	case JSON:
		// No HTML escaping: commands and reasons hold && and <>, and nobody embeds
		// this output in a web page.
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	case YAML:
		// Round-trip through JSON so YAML keys match the JSON field names.
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(v)
	case Table, Wide, Name, "":
		t := &tableOut{w: w, wide: o.Format == Wide, name: o.Format == Name, noHeaders: o.NoHeaders}
		if err := table(t); err != nil {
			return err
		}
		if t.name && !t.rows {
			return fmt.Errorf("-o name: this command prints no table of names; use table, json or yaml")
		}
		return nil
	}
	return Check(o.Format)
}

// cell is a table cell made safe to print: cells carry text from the network (event
// details, hostnames, reasons), so terminal escapes are shown escaped and a tab cannot
// shift the columns.
func cell(s string) string {
	return strings.ReplaceAll(sanitize.Escape(s), "\t", `\t`)
}
