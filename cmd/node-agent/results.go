package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

func resultTable(w io.Writer, rs []check.Result) error {
	t := output.Rows{Header: []string{"CHECK", "STATUS", "OBSERVED", "EXPECTED", "MESSAGE", "TIME"}}
	for _, r := range rs {
		t.Add(r.Name, strings.ToUpper(string(r.Status)), r.Observed, r.Expected, r.Message, fmt.Sprintf("%.1fs", r.Duration.Seconds()))
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "no checks: the expectations ask for no GPU, storage or network")
		return nil
	}
	return t.Write(w)
}

// verdict is exit status 1 with a summary when any check failed; warnings are listed on
// stderr.
func verdict(stderr io.Writer, rs []check.Result) error {
	var failed, warned []string
	for _, r := range rs {
		switch r.Status {
		case check.Fail:
			failed = append(failed, r.Name)
		case check.Warn:
			warned = append(warned, r.Name)
		}
	}
	if len(warned) > 0 {
		fmt.Fprintf(stderr, "node-agent: %d warning(s): %s\n", len(warned), strings.Join(warned, ", "))
	}
	if len(failed) > 0 {
		return cli.Exitf(1, "node-agent: %d of %d checks failed: %s", len(failed), len(rs), strings.Join(failed, ", "))
	}
	return nil
}
