package httpboot

import (
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/racklift/racklift/pkg/ipxe"
	"github.com/racklift/racklift/pkg/plan"
)

// Script is one node's iPXE boot script as serve answers on its script URL, less the
// agent token serve adds for the node's own address: what `provision plan --script`
// prints.
type Script struct {
	Node      string `json:"node"`
	ScriptURL string `json:"script_url"`
	Script    string `json:"script"`
}

// Scripts renders each planned node's boot script, with its install's kernel arguments,
// from the templates serve uses.
func Scripts(templates fs.FS, p *plan.Plan) ([]Script, error) {
	r, err := ipxe.New(templates)
	if err != nil {
		return nil, err
	}
	installs := NewInstalls(templates)
	out := make([]Script, 0, len(p.Nodes))
	for _, np := range p.Nodes {
		args, err := installs.KernelArgs(np)
		if err != nil {
			return nil, err
		}
		b, err := r.Boot(np, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, Script{Node: np.Node, ScriptURL: np.Boot.ScriptURL, Script: string(b)})
	}
	return out, nil
}

// WriteScripts prints each script under a comment naming its node and URL.
func WriteScripts(w io.Writer, scripts []Script) error {
	for _, s := range scripts {
		if _, err := fmt.Fprintf(w, "# %s: %s\n%s\n", s.Node, s.ScriptURL, strings.TrimRight(s.Script, "\n")); err != nil {
			return err
		}
	}
	return nil
}
