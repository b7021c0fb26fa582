// Package output prints command results as a human table or as JSON/YAML for scripts.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/sanitize"
)

// Formats accepted by -o.
const (
	Table = "table"
	JSON  = "json"
	YAML  = "yaml"
)

// Check reports whether format is one -o accepts.
func Check(format string) error {
	switch format {
	case Table, JSON, YAML, "":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use table, json or yaml", format)
}

// Rows is a human table.
type Rows struct {
	Header []string
	Rows   [][]string
}

// Add appends one row.
func (r *Rows) Add(cells ...string) { r.Rows = append(r.Rows, cells) }

// Write prints the table with aligned columns.
func (r *Rows) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Header) > 0 {
		fmt.Fprintln(tw, strings.Join(r.Header, "\t"))
	}
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// Print writes data as JSON or YAML, or calls table for the human form.
func Print(w io.Writer, format string, data any, table func(io.Writer) error) error {
	switch format {
	case JSON:
		enc := json.NewEncoder(w)
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
	case Table, "":
		return table(w)
	}
	return Check(format)
}

// cell is a table cell made safe to print: cells carry text from the network (event
// details, hostnames, reasons), so terminal escapes are shown escaped and a tab cannot
// shift the columns.
func cell(s string) string {
	return strings.ReplaceAll(sanitize.Escape(s), "\t", `\t`)
}
