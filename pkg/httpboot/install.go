package httpboot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"path"
	"strings"
	"text/template"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/ipxe"
	"github.com/racklift/racklift/pkg/plan"
)

// AgentUnitPath is the node-agent systemd unit the install files write (owned by the
// agent area), inside the templates FS.
const AgentUnitPath = "systemd/node-agent.service"

// InstallData is what templates/install/<name>/* see.
type InstallData struct {
	Node, Rack, Role, Hostname string
	MAC, Interface             string
	IP                         string
	PrefixLen                  int
	Netmask                    string
	Gateway                    string
	DNS                        []string
	Domain                     string
	MTU                        int
	Server                     string // http://server:port
	InstallURL                 string // where this node's install files are, no trailing slash
	AgentURL                   string
	CallbackURL                string
	AgentUnit                  string
	// LoginUser is created on the installed system with AuthorizedKeys (inventory login:;
	// inventory.DefaultLoginUser and no keys when the inventory sets none).
	LoginUser      string
	AuthorizedKeys []string
	// RootDiskScript defines racklift_root_disk, which prints the disk the profile's
	// boot.root_device hints pick (RootDiskScript).
	RootDiskScript string
}

// Installs renders templates/install for nodes.
type Installs struct {
	fsys fs.FS
}

// NewInstalls reads install templates from fsys (templates.FS or a --templates dir).
func NewInstalls(fsys fs.FS) *Installs { return &Installs{fsys: fsys} }

// Data is the template data of a node.
func Data(np *plan.NodePlan, agentUnit string) InstallData {
	r := np.Reservation
	base := ipxe.Base(np)
	d := InstallData{
		Node: np.Node, Rack: np.Rack, Role: np.Role, Hostname: r.Hostname,
		MAC: r.MACString, Interface: r.Interface, Domain: r.Domain, MTU: r.MTU,
		Server:         base,
		InstallURL:     base + "/install/" + r.MACString,
		AgentURL:       base + "/agent/node-agent",
		CallbackURL:    base + "/callback/" + r.MACString,
		AgentUnit:      strings.TrimRight(agentUnit, "\n"),
		RootDiskScript: strings.TrimRight(RootDiskScript(np.Boot.RootDevice), "\n"),
		LoginUser:      inventory.DefaultLoginUser,
	}
	if np.Login != nil {
		d.LoginUser, d.AuthorizedKeys = np.Login.User, np.Login.AuthorizedKeys
	}
	if d.Hostname == "" {
		d.Hostname = np.Node
	}
	if d.MTU == 0 {
		d.MTU = 1500
	}
	if r.IP.IsValid() {
		d.IP = r.IP.String()
	}
	if r.Prefix.IsValid() {
		d.PrefixLen = r.Prefix.Bits()
		d.Netmask = net.IP(net.CIDRMask(d.PrefixLen, 32)).String()
	}
	if r.Gateway.IsValid() {
		d.Gateway = r.Gateway.String()
	}
	for _, a := range r.DNS {
		d.DNS = append(d.DNS, a.String())
	}
	return d
}

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"indent": func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	},
	"join": strings.Join,
}

// Files lists the files of an install template (cmdline excluded).
func (in *Installs) Files(name string) ([]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	ents, err := fs.ReadDir(in.fsys, path.Join("install", name))
	if err != nil {
		return nil, fmt.Errorf("install template %q: %w (profiles name a directory under templates/install)", name, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && e.Name() != "cmdline" && !strings.HasSuffix(e.Name(), ".md") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Render renders one file of the node's install template.
func (in *Installs) Render(np *plan.NodePlan, file string) ([]byte, error) {
	name := np.Boot.Install
	if name == "" {
		return nil, fmt.Errorf("node %q: its profile sets no boot.install", np.Node)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := checkName(file); err != nil {
		return nil, err
	}
	src, err := fs.ReadFile(in.fsys, path.Join("install", name, file))
	if err != nil {
		return nil, fmt.Errorf("node %q: install template %s/%s: %w", np.Node, name, file, err)
	}
	unit, err := fs.ReadFile(in.fsys, AgentUnitPath)
	if err != nil {
		return nil, fmt.Errorf("node %q: templates/%s: %w (the install files need the node-agent unit)", np.Node, AgentUnitPath, err)
	}
	t, err := template.New(file).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("templates/install/%s/%s: %w", name, file, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, Data(np, string(unit))); err != nil {
		return nil, fmt.Errorf("node %q: templates/install/%s/%s: %w", np.Node, name, file, err)
	}
	return buf.Bytes(), nil
}

// KernelArgs are the arguments the install needs on the kernel command line, rendered
// from templates/install/<name>/cmdline; none when the node has no install.
func (in *Installs) KernelArgs(np *plan.NodePlan) ([]string, error) {
	if np.Boot.Install == "" {
		return nil, nil
	}
	b, err := in.renderNoUnit(np, "cmdline")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func (in *Installs) renderNoUnit(np *plan.NodePlan, file string) ([]byte, error) {
	name := np.Boot.Install
	if err := checkName(name); err != nil {
		return nil, err
	}
	src, err := fs.ReadFile(in.fsys, path.Join("install", name, file))
	if err != nil {
		return nil, fmt.Errorf("node %q: install template %s: %w (profiles name a directory under templates/install)", np.Node, name, err)
	}
	t, err := template.New(file).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("templates/install/%s/%s: %w", name, file, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, Data(np, "")); err != nil {
		return nil, fmt.Errorf("node %q: templates/install/%s/%s: %w", np.Node, name, file, err)
	}
	return buf.Bytes(), nil
}

// checkName keeps template and file names to one path element.
func checkName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("%q is not a template or file name", s)
	}
	return nil
}
