package output

import (
	"bytes"
	"io"
	"testing"
)

func TestPrintForms(t *testing.T) {
	t.Parallel()
	rows := Rows{Header: []string{"NODE", "PHASE"}, Wide: []string{"REASON"}}
	rows.Add("n1", "ready", "")
	rows.Add("n2", "failed", "BMC && PSU <down>")
	table := func(w io.Writer) error {
		io.WriteString(w, "2 nodes\n")
		return rows.Write(w)
	}
	data := map[string]string{"reason": "BMC && PSU <down>"}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "table", o: Options{Format: Table}, want: "2 nodes\nNODE  PHASE\nn1    ready\nn2    failed\n"},
		{name: "wide", o: Options{Format: Wide}, want: "2 nodes\nNODE  PHASE   REASON\nn1    ready   \nn2    failed  BMC && PSU <down>\n"},
		{name: "no headers", o: Options{Format: Table, NoHeaders: true}, want: "2 nodes\nn1  ready\nn2  failed\n"},
		{name: "name", o: Options{Format: Name}, want: "n1\nn2\n"},
		{name: "json keeps && and <>", o: Options{Format: JSON}, want: "{\n  \"reason\": \"BMC && PSU <down>\"\n}\n"},
		{name: "yaml", o: Options{Format: YAML}, want: "reason: BMC && PSU <down>\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := PrintOpts(&b, tc.o, data, table); err != nil || b.String() != tc.want {
				t.Errorf("PrintOpts(%+v) = %q, %v; want %q", tc.o, b.String(), err, tc.want)
			}
		})
	}
	var b bytes.Buffer
	if err := PrintOpts(&b, Options{Format: Name}, data, func(w io.Writer) error { _, err := io.WriteString(w, "text"); return err }); err == nil {
		t.Errorf("-o name without a table printed %q and no error", b.String())
	}
}
