// Package httpboot is serve's HTTP side: per-node iPXE scripts, kernel/initrd/images
// from the artifacts directory (Range requests), the iPXE binaries for UEFI HTTP boot,
// OS install files rendered per node, the node-agent binary, and the callback a booted
// node makes. Every fetch becomes an event.
package httpboot

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/ipxe"
	"github.com/racklift/racklift/pkg/nodelock"
	"github.com/racklift/racklift/pkg/plan"
)

// Plans gives the plan in force (it changes on hot reload).
type Plans interface {
	Current() *plan.Plan
}

// NodeState is what serve's provisioning core knows of a node (provisioner.Core, over
// the state store): whether it is installed (it boots its local disk until `provision up
// --reprovision` clears the flag) and whether a run started with --force is under way
// (the one thing that lets a protected or maintenance node boot from the network).
type NodeState interface {
	Installed(node string) bool
	ForcedRun(node string) bool
}

// Nodes names the node behind a client address, for events.
type Nodes interface {
	NodeByIP(ip netip.Addr) (node, mac string, ok bool)
}

// Config is the HTTP boot service's setup.
type Config struct {
	Plans       Plans
	Templates   fs.FS     // templates.FS or a --templates directory
	Artifacts   string    // kernel, initrd, images; "" serves none
	PXEDir      string    // iPXE binaries for UEFI HTTP boot clients
	AgentBinary string    // node-agent served at /agent/node-agent; "" serves none
	State       NodeState // nil: nothing is installed and no run is forced
	Events      *events.Stream
	Nodes       Nodes
	Log         *slog.Logger
	// BootArgs adds a node's credentials to its kernel command line (provisioner.Core.BootArgs:
	// one-time bootstrap secret, CA fingerprint, agent API); reserved is the address the
	// request came from when serve's DHCP reserved it for the node (the bootstrap is bound
	// to it), invalid otherwise. An error serves the local-disk script.
	BootArgs func(node, mac string, reserved netip.Addr) ([]string, error)
}

// Handler serves the routes below on its mux.
type Handler struct {
	cfg       Config
	mux       *http.ServeMux
	ipxe      *ipxe.Renderer
	installs  *Installs
	artifacts *os.Root
	pxe       *os.Root
}

// New checks the templates and opens the directories.
func New(cfg Config) (*Handler, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	r, err := ipxe.New(cfg.Templates)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), ipxe: r, installs: NewInstalls(cfg.Templates)}
	if cfg.Artifacts != "" {
		if h.artifacts, err = os.OpenRoot(cfg.Artifacts); err != nil {
			return nil, fmt.Errorf("artifacts directory: %w (give --artifacts the directory holding the profiles' kernels and initrds)", err)
		}
	}
	if cfg.PXEDir != "" {
		if h.pxe, err = os.OpenRoot(cfg.PXEDir); err != nil {
			return nil, fmt.Errorf("pxe directory: %w (run `make pxe`)", err)
		}
	}
	h.mux.HandleFunc("GET /ipxe/{mac}", h.script)
	h.mux.HandleFunc("GET /artifacts/{path...}", h.fileFrom(h.artifacts, events.HTTPArtifact, "--artifacts"))
	h.mux.HandleFunc("GET /pxe/{path...}", h.fileFrom(h.pxe, events.HTTPArtifact, "--pxe-dir"))
	h.mux.HandleFunc("GET /install/{mac}/{file}", h.install)
	h.mux.HandleFunc("GET /agent/node-agent", h.agent)
	h.mux.HandleFunc("/callback/{mac}", h.callback)
	return h, nil
}

// Close releases the directories.
func (h *Handler) Close() {
	for _, r := range []*os.Root{h.artifacts, h.pxe} {
		if r != nil {
			r.Close()
		}
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Mux is where serve adds /metrics and /api routes.
func (h *Handler) Mux() *http.ServeMux { return h.mux }

// node looks the path's MAC up in the plan in force.
func (h *Handler) node(r *http.Request) (*plan.NodePlan, net.HardwareAddr, error) {
	mac, err := net.ParseMAC(r.PathValue("mac"))
	if err != nil {
		return nil, nil, fmt.Errorf("%q is not a MAC address", r.PathValue("mac"))
	}
	var p *plan.Plan
	if h.cfg.Plans != nil {
		p = h.cfg.Plans.Current()
	}
	if p == nil {
		return nil, mac, fmt.Errorf("MAC %s: no plan loaded", mac)
	}
	np := p.ByMAC(mac)
	if np == nil {
		return nil, mac, fmt.Errorf("MAC %s is not in the inventory", mac)
	}
	return np, mac, nil
}

func clientIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

// fromReservedAddress refuses a node's agent credentials to a script request that does
// not come from the address serve's DHCP reserved for it: the MAC in the URL is easy to
// claim, the node's address on the provisioning network less so. Proxy and off modes
// hand out addresses serve does not know, so there the MAC alone decides.
func fromReservedAddress(np *plan.NodePlan, from string) (netip.Addr, error) {
	res := np.Reservation
	if res.Mode != "reservation" || !res.IP.IsValid() {
		return netip.Addr{}, nil
	}
	if ip, err := netip.ParseAddr(from); err == nil && ip == res.IP {
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("boot script for %s (MAC %s) asked from %s, not from its reserved address %s: no agent credential handed out", np.Node, res.MACString, from, res.IP)
}

// script answers iPXE: the network boot for a node to provision, the local disk for an
// installed node, a protected or maintenance node (unless a forced run is under way), an
// unknown MAC or a node whose script cannot be rendered (so a mistake never leaves a
// machine hanging in iPXE, and an in-use machine is never handed an installer).
func (h *Handler) script(w http.ResponseWriter, r *http.Request) {
	e := events.Event{Kind: events.HTTPScript, IP: clientIP(r), MAC: r.PathValue("mac")}
	np, _, err := h.node(r)
	var body []byte
	var lockErr error
	if err == nil {
		lock := nodelock.Node{Name: np.Node, Protected: np.Protected, Maintenance: np.Maintenance}
		lockErr = nodelock.Check(lock, "network boot", h.cfg.State != nil && h.cfg.State.ForcedRun(np.Node))
	}
	switch {
	case err != nil:
		e.Detail, e.Err = "local", err.Error()
		body, err = h.ipxe.Local(err.Error() + ": booting the local disk, changing nothing")
	case lockErr != nil:
		// The event says why: the operator sees it in `provision events` and status.
		e.Node, e.Detail, e.Err = np.Node, "local", lockErr.Error()
		h.cfg.Log.Warn("locked node network-boots: answered with its local disk", "node", np.Node, "reason", lockErr)
		body, err = h.ipxe.Local(np.Node + " is protected or in maintenance: booting its local disk (see `provision events " + np.Node + "`)")
	case h.cfg.State != nil && h.cfg.State.Installed(np.Node):
		e.Node, e.Detail = np.Node, "local"
		body, err = h.ipxe.Local(np.Node + " is installed: booting its local disk")
	default:
		e.Node, e.Detail = np.Node, "boot"
		var args []string
		if args, err = h.installs.KernelArgs(np); err == nil && h.cfg.BootArgs != nil {
			var creds []string
			var reserved netip.Addr
			if reserved, err = fromReservedAddress(np, e.IP); err == nil {
				creds, err = h.cfg.BootArgs(np.Node, np.Reservation.MACString, reserved)
			}
			if err == nil {
				args = append(args, creds...)
			}
		}
		if err == nil {
			body, err = h.ipxe.Boot(np, args...)
		}
		if err != nil {
			e.Detail, e.Err = "local", err.Error()
			h.cfg.Log.Error("ipxe script not rendered; the node boots its local disk", "node", np.Node, "error", err)
			body, err = h.ipxe.Local("no network boot for " + np.Node + " (see serve's log): booting the local disk")
		}
	}
	if err != nil { // the local template itself failed: nothing sensible to send
		http.Error(w, err.Error(), http.StatusInternalServerError)
		e.Err = err.Error()
		h.cfg.Events.Publish(e)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
	e.Bytes = int64(len(body))
	h.cfg.Events.Publish(e)
}

// fileFrom serves files from a root with http.ServeContent (Range, If-Modified-Since),
// refusing anything outside it (os.Root follows no symlink out).
func (h *Handler) fileFrom(root *os.Root, kind events.Kind, flag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("path")
		e := events.Event{Kind: kind, IP: clientIP(r), Detail: r.URL.Path}
		if ip, err := netip.ParseAddr(e.IP); err == nil && h.cfg.Nodes != nil {
			e.Node, e.MAC, _ = h.cfg.Nodes.NodeByIP(ip)
		}
		fail := func(code int, msg string) {
			http.Error(w, msg, code)
			e.Err = msg
			h.cfg.Events.Publish(e)
		}
		if root == nil {
			fail(http.StatusNotFound, "serve was started without "+flag)
			return
		}
		if !fs.ValidPath(name) {
			fail(http.StatusBadRequest, strconv.Quote(name)+" is not a valid path")
			return
		}
		f, err := root.Open(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				fail(http.StatusNotFound, r.URL.Path+": not found in "+flag)
			} else {
				fail(http.StatusForbidden, r.URL.Path+": "+err.Error())
			}
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			fail(http.StatusNotFound, r.URL.Path+": not a file")
			return
		}
		if root == h.artifacts && r.Method == http.MethodGet && e.Node != "" {
			st := e
			st.Kind = events.HTTPArtifactStart
			h.cfg.Events.Publish(st)
		}
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w}
		http.ServeContent(cw, r, path.Base(name), fi.ModTime(), f)
		e.Bytes, e.Duration = cw.n, time.Since(start)
		if cw.status >= 400 {
			e.Err = http.StatusText(cw.status)
		}
		h.cfg.Events.Publish(e)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (h *Handler) install(w http.ResponseWriter, r *http.Request) {
	file, ferr := installFile(r)
	e := events.Event{Kind: events.HTTPInstall, IP: clientIP(r), MAC: r.PathValue("mac"), Detail: file}
	np, _, err := h.node(r)
	var body []byte
	if err == nil && ferr != nil {
		e.Node, err = np.Node, ferr
	} else if err == nil {
		e.Node = np.Node
		body, err = h.installs.Render(np, file)
	}
	if err != nil {
		e.Err = err.Error()
		h.cfg.Events.Publish(e)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(body)
	e.Bytes = int64(len(body))
	h.cfg.Events.Publish(e)
}

func (h *Handler) agent(w http.ResponseWriter, r *http.Request) {
	if h.cfg.AgentBinary == "" {
		http.Error(w, "serve was started without --agent-bin", http.StatusNotFound)
		return
	}
	dir, file := path.Split(h.cfg.AgentBinary)
	root, err := os.OpenRoot(dir + ".")
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer root.Close()
	h.fileFrom(root, events.HTTPArtifact, "--agent-bin")(w, withPath(r, file))
}

func withPath(r *http.Request, p string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.SetPathValue("path", p)
	return r2
}

// callback is a booted node saying where it is: ?stage=booted, ... It only records an
// event. A stage that would change what serve does (installed: boot the local disk from
// now on) needs the node's credential, which the plain-HTTP boot port never sees: it is
// refused here and made over the agent API (POST /api/v1/nodes/NODE/installed with the
// node's client certificate; `node-agent enroll --installed` does it).
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	stage, serr := callbackStage(r)
	e := events.Event{Kind: events.HTTPCallback, IP: clientIP(r), MAC: r.PathValue("mac"), Detail: stage}
	np, _, err := h.node(r)
	if err != nil {
		e.Err = err.Error()
		h.cfg.Events.Publish(e)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	e.Node = np.Node
	if serr != nil {
		e.Err = serr.Error()
		h.cfg.Events.Publish(e)
		http.Error(w, serr.Error(), http.StatusBadRequest)
		return
	}
	if stage == "installed" {
		msg := fmt.Sprintf("node %s: an unauthenticated installed callback is refused and changes nothing: the node reports it over the agent API with its client certificate (node-agent enroll --installed)", np.Node)
		e.Err = msg
		h.cfg.Events.Publish(e)
		http.Error(w, msg, http.StatusUnauthorized)
		return
	}
	h.cfg.Events.Publish(e)
	fmt.Fprintf(w, "ok %s %s\n", np.Node, e.Detail)
}
