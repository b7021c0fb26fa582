package dhcp

import (
	"fmt"
	"io"

	"github.com/racklift/racklift/pkg/output"
)

// WriteDiscovered prints the MACs serve recorded in stateDir without answering them, one
// row each, and how to add one to the inventory.
func WriteDiscovered(w io.Writer, recs []*Record, stateDir string) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintf(w, "no discovered machines in %s (serve records MACs it does not answer there)\n", stateDir)
		return err
	}
	t := output.Rows{Header: []string{"MAC", "CLIENT", "INTERFACE", "NETWORK", "FIRST SEEN", "LAST SEEN", "REQUESTS"}}
	for _, r := range recs {
		t.Add(r.MAC, r.Client, dash(r.Interface), dash(r.Network), r.FirstSeen.Format("2006-01-02 15:04:05"), r.LastSeen.Format("2006-01-02 15:04:05"), fmt.Sprint(r.Count))
	}
	if err := t.Write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nadd one to the inventory: provision discovered --stanza")
	return err
}

// WriteStanzas prints a ready-to-paste inventory node for each record.
func WriteStanzas(w io.Writer, recs []*Record) error {
	fmt.Fprintln(w, "# paste under a rack's nodes: and set name, unit and interface name")
	for _, r := range recs {
		if _, err := fmt.Fprint(w, r.Stanza()); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
