// Package ipxe renders the per-node iPXE scripts from templates/ipxe: the network boot
// (kernel, initrd, command line from the plan, retried, then the local disk) and the
// local-disk script for installed and unknown machines. Used by httpboot and by
// `provision plan`.
package ipxe

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"text/template"

	"github.com/racklift/racklift/pkg/plan"
)

// Defaults for the retry loop of the boot script.
const (
	DefaultRetries    = 3
	DefaultRetryDelay = 5 // seconds
)

// Script is what the boot template sees.
type Script struct {
	Node, MAC      string
	Base           string // http://server:port
	Kernel, Initrd string // absolute URLs
	Cmdline        string
	Retries        int
	RetryDelay     int
	Reason         string // local.ipxe: why the local disk
}

// Renderer holds the parsed templates.
type Renderer struct {
	t *template.Template
}

// New parses ipxe/*.ipxe from fsys (templates.FS or a --templates directory).
func New(fsys fs.FS) (*Renderer, error) {
	t, err := template.New("ipxe").Option("missingkey=error").ParseFS(fsys, "ipxe/*.ipxe")
	if err != nil {
		return nil, fmt.Errorf("ipxe templates: %w", err)
	}
	for _, name := range []string{"boot", "local", "localboot"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("ipxe templates: no {{define %q}} in ipxe/*.ipxe", name)
		}
	}
	return &Renderer{t: t}, nil
}

// Base is the scheme://host:port the node's script URL points at.
func Base(np *plan.NodePlan) string {
	if u, err := url.Parse(np.Boot.ScriptURL); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	if np.Reservation.Server.IsValid() {
		return fmt.Sprintf("http://%s:%d", np.Reservation.Server, plan.DefaultHTTPPort)
	}
	return ""
}

// ArtifactURL makes a profile's kernel or initrd an absolute URL: a URL stays as is, a
// path is served from the artifacts directory.
func ArtifactURL(base, p string) string {
	if strings.Contains(p, "://") {
		return p
	}
	u := url.URL{Path: path.Join("/artifacts", path.Clean("/"+p))}
	return base + u.EscapedPath()
}

// Boot renders the network boot script of a node. extraArgs are appended to the
// profile's command line (e.g. the install data source).
func (r *Renderer) Boot(np *plan.NodePlan, extraArgs ...string) ([]byte, error) {
	b := np.Boot
	if b.Kernel == "" {
		return nil, fmt.Errorf("node %q (profile %q): its profile sets no boot.kernel to boot from the network", np.Node, np.Profile)
	}
	if b.Initrd == "" {
		return nil, fmt.Errorf("node %q (profile %q): its profile sets no boot.initrd", np.Node, np.Profile)
	}
	base := Base(np)
	args := []string{}
	if b.Cmdline != "" {
		args = append(args, b.Cmdline)
	}
	args = append(args, "racklift.server="+base, "racklift.node="+np.Node)
	args = append(args, extraArgs...)
	s := Script{
		Node: np.Node, MAC: np.Reservation.MACString, Base: base,
		Kernel:  ArtifactURL(base, b.Kernel),
		Initrd:  ArtifactURL(base, b.Initrd),
		Cmdline: strings.Join(args, " "),
		Retries: DefaultRetries, RetryDelay: DefaultRetryDelay,
	}
	// Errors name the profile and the problem, never the command line: it carries the
	// node's bootstrap secret, and render errors end up in serve's log and the events.
	for what, v := range map[string]string{"node name": s.Node, "MAC": s.MAC, "kernel": s.Kernel, "initrd": s.Initrd} {
		if err := safe(v); err != nil {
			return nil, fmt.Errorf("node %q (profile %q): %s %q: %w", np.Node, np.Profile, what, v, err)
		}
	}
	if err := safe(s.Cmdline); err != nil {
		return nil, fmt.Errorf("node %q (profile %q): kernel command line %w", np.Node, np.Profile, err)
	}
	for _, w := range strings.Fields(s.Cmdline) {
		if w == "||" || w == "&&" {
			return nil, fmt.Errorf("node %q (profile %q): kernel command line holds %q, which iPXE reads as an operator: fix the profile's boot.cmdline (`provision validate` names its line)", np.Node, np.Profile, w)
		}
	}
	for what, v := range map[string]string{"kernel": s.Kernel, "initrd": s.Initrd} {
		if strings.ContainsAny(v, " \t") {
			return nil, fmt.Errorf("node %q (profile %q): %s URL %q holds a space: iPXE would split it", np.Node, np.Profile, what, v)
		}
	}
	return r.exec("boot", s)
}

// Local renders the local-disk script; reason is echoed on the console.
func (r *Renderer) Local(reason string) ([]byte, error) {
	return r.exec("local", Script{Reason: printable(reason)})
}

func (r *Renderer) exec(name string, s Script) ([]byte, error) {
	var buf bytes.Buffer
	if err := r.t.ExecuteTemplate(&buf, name, s); err != nil {
		return nil, fmt.Errorf("ipxe template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// safe refuses what could end an iPXE command early or start another: line breaks and
// other control characters. (iPXE reads "||", "&&" and "#" only as whole words, and the
// values are single arguments or a command line, where they are the user's intent.)
func safe(s string) error {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("holds a control character (%U): refused so it cannot add iPXE commands", c)
		}
	}
	return nil
}

// printable replaces control characters and iPXE's special characters for echo.
func printable(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || strings.ContainsRune("$|&#", c) {
			return '_'
		}
		return c
	}, s)
}
