package ui

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/sanitize"
	"github.com/racklift/racklift/pkg/state"
)

// maxText bounds one field the dashboard shows that a node's agent or BMC wrote (a
// check's observed value or message, a failure reason): the page stays readable and a
// node cannot grow it without bound.
const maxText = 512

// text is network text made safe to show: escaped (controls, bidi overrides) and capped.
// The page itself inserts every string as text, never as markup.
func text(s string) string { return sanitize.Text(s, maxText) }

// Site is the site view's document (GET /ui/api/site): every rack as an elevation with
// its nodes in their units, and the sequence number live updates resume after.
type Site struct {
	Site    string   `json:"site"`
	LastSeq uint64   `json:"last_seq"`
	Phases  []string `json:"phases"` // the lifecycle's phases in order: legend and counts
	Racks   []Rack   `json:"racks"`
	// Selector is the filter applied (the CLI's selector language); nodes it does not
	// select have Dim set.
	Selector string `json:"selector,omitempty"`
	Selected int    `json:"selected"`
}

// Rack is one rack's elevation.
type Rack struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	Units    int    `json:"units"`
	Nodes    []Box  `json:"nodes"`
}

// Box is one node in its rack: where it sits, its phase and what is wrong with it. The
// live stream sends the same shape after every event.
type Box struct {
	Name   string `json:"name"`
	Rack   string `json:"rack"`
	Unit   int    `json:"unit"` // 0: no unit in the inventory (drawn beside the rack)
	Height int    `json:"height"`
	Role   string `json:"role,omitempty"`
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Failed and Warned count the checks of the node's last report.
	Failed int `json:"failed,omitempty"`
	Warned int `json:"warned,omitempty"`
	// Power is the last BMC power action serve made: "ok", "failed", "issued" (under way,
	// or serve stopped during it) or "" (none yet); PowerError says why it failed.
	Power      string `json:"power,omitempty"`
	PowerError string `json:"power_error,omitempty"`
	Lock       string `json:"lock,omitempty"` // protected or maintenance
	Dim        bool   `json:"dim,omitempty"`  // not selected by the filter
}

// Update is one message of the live stream (GET /ui/api/events, event "update"): the
// event as the state logged it and the node's box after it (nil for a node no longer in
// the inventory).
type Update struct {
	Event state.Event `json:"event"`
	Box   *Box        `json:"box,omitempty"`
}

// summary is what the dashboard reads out of a node's stored report, kept per node until
// the report changes (ReportAt), so a page load does not parse 10,000 reports again.
type summary struct {
	at      time.Time
	failed  int
	warned  int
	results []check.Result
	gpus    []check.GPU
	report  *check.Report // Hardware dropped
}

// summaries caches the parsed reports.
type summaries struct {
	mu sync.Mutex
	m  map[string]*summary
}

func (c *summaries) of(n state.Node) *summary {
	c.mu.Lock()
	s := c.m[n.Name]
	c.mu.Unlock()
	// A record the dashboard keeps without its report (view) finds its summary here.
	if s != nil && s.at.Equal(n.ReportAt) {
		return s
	}
	if len(n.Report) == 0 {
		return &summary{}
	}
	s = &summary{at: n.ReportAt}
	if r, err := check.ParseReport(n.Report); err == nil {
		for _, res := range r.Results {
			switch res.Status {
			case check.Fail:
				s.failed++
			case check.Warn:
				s.warned++
			}
		}
		if r.Failed && s.failed == 0 {
			s.failed = 1 // the agent marked it failed without a failed check: still red
		}
		s.results = r.Sorted()
		if r.Hardware != nil {
			s.gpus = r.Hardware.GPUs
		}
		r.Hardware = nil
		s.report = &r
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*summary{}
	}
	c.m[n.Name] = s
	c.mu.Unlock()
	return s
}

// forget drops the cached reports of nodes no longer in the inventory.
func (c *summaries) forget(keep func(string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.m {
		if !keep(name) {
			delete(c.m, name)
		}
	}
}

// box is node's box from the inventory and its record (zero record: never seen).
func box(nd *inventory.Node, n state.Node, s *summary) Box {
	b := Box{Name: nd.Name, Rack: nd.Rack, Unit: nd.Unit, Height: max(nd.Height, 1), Role: nd.Role,
		Phase: n.Phase, Reason: text(n.Reason), Failed: s.failed, Warned: s.warned}
	if b.Phase == "" {
		b.Phase = string(lifecycle.Enrolled)
	}
	switch p := n.Power; {
	case p.IssuedAt.IsZero():
	case p.Err != "":
		b.Power, b.PowerError = "failed", text(p.Err)
	case p.DoneAt.IsZero():
		b.Power = "issued"
	default:
		b.Power = "ok"
	}
	switch {
	case nd.Maintenance:
		b.Lock = "maintenance"
	case nd.Protected:
		b.Lock = "protected"
	}
	return b
}

// phases are the lifecycle's phases as strings.
func phases() []string {
	out := make([]string, len(lifecycle.Phases))
	for i, p := range lifecycle.Phases {
		out[i] = string(p)
	}
	return out
}

// selection is the set of nodes a selector (the CLI's language: all, names, globs,
// rack=, role=, k=v; several words = or) picks; nil selects every node.
func selection(inv *inventory.Inventory, selector string) (map[string]bool, error) {
	words := strings.Fields(selector)
	if len(words) == 0 {
		return nil, nil
	}
	nodes, err := inv.SelectAny(words)
	if err != nil {
		return nil, err
	}
	sel := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		sel[n.Name] = true
	}
	return sel, nil
}

// buildSite draws the inventory's racks with the nodes' records.
func buildSite(inv *inventory.Inventory, records map[string]state.Node, sums *summaries, sel map[string]bool) Site {
	site := Site{Site: inv.Site, Phases: phases(), Racks: make([]Rack, 0, len(inv.Racks))}
	for _, r := range inv.Racks {
		units := r.Units
		if units <= 0 {
			units = 42
		}
		rack := Rack{Name: r.Name, Location: r.Location, Units: units, Nodes: make([]Box, 0, len(r.Nodes))}
		for _, nd := range r.Nodes {
			n := records[nd.Name]
			b := box(nd, n, sums.of(n))
			if sel != nil && !sel[nd.Name] {
				b.Dim = true
			} else {
				site.Selected++
			}
			rack.Nodes = append(rack.Nodes, b)
		}
		site.Racks = append(site.Racks, rack)
	}
	return site
}

// NodeView is the node view's document (GET /ui/api/nodes/{name}).
type NodeView struct {
	Name       string            `json:"name"`
	Rack       string            `json:"rack"`
	Unit       int               `json:"unit"`
	Height     int               `json:"height"`
	Role       string            `json:"role,omitempty"`
	Profile    string            `json:"profile,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Lock       string            `json:"lock,omitempty"`
	Interfaces []Interface       `json:"interfaces"`
	BMC        BMC               `json:"bmc"`
	// Status is the node's line of `provision status` (the control API's type).
	Status api.NodeStatus `json:"status"`
	// History is the phases the node went through, oldest first, with how long each lasted.
	History []Span `json:"history"`
	// Report is the last report's header; Checks its results failed first, then warnings,
	// then passes, as `provision report` lists them.
	Report   *ReportHead         `json:"report,omitempty"`
	Checks   []check.Result      `json:"checks"`
	Storage  []Rate              `json:"storage"`
	Networks []Hops              `json:"networks"`
	GPUs     []check.GPU         `json:"gpus"`
	Deploy   *check.DeployResult `json:"deploy,omitempty"`
	// Events are the node's latest events, oldest first; live ones follow on the stream.
	Events  []state.Event `json:"events"`
	LastSeq uint64        `json:"last_seq"`
}

// Interface is one of the node's interfaces in the inventory.
type Interface struct {
	Name    string `json:"name"`
	MAC     string `json:"mac"`
	Network string `json:"network"`
	Address string `json:"address,omitempty"`
	PXE     bool   `json:"pxe,omitempty"`
}

// BMC is the node's BMC as the inventory gives it (no credentials) and the last power
// action serve made through it.
type BMC struct {
	Address  string            `json:"address"`
	Protocol string            `json:"protocol"`
	Port     int               `json:"port,omitempty"`
	Vendor   string            `json:"vendor,omitempty"`
	Power    state.PowerRecord `json:"power"`
}

// Span is one stay in a phase.
type Span struct {
	Phase   string    `json:"phase"`
	From    time.Time `json:"from"`
	Seconds float64   `json:"seconds"`
	Open    bool      `json:"open,omitempty"` // the node is still in it
	Run     int       `json:"run,omitempty"`
}

// ReportHead is the header of `provision report`: when, by which agent, from where.
type ReportHead struct {
	Time       time.Time `json:"time"`
	Agent      string    `json:"agent,omitempty"`
	BootSource string    `json:"boot_source,omitempty"`
	OS         string    `json:"os,omitempty"`
	Kernel     string    `json:"kernel,omitempty"`
	Failed     int       `json:"failed"`
	Warned     int       `json:"warned"`
	Passed     int       `json:"passed"`
}

// Rate is one storage throughput against the profile's minimum.
type Rate struct {
	Mount    string  `json:"mount"`
	Op       string  `json:"op"` // write, read
	MBps     float64 `json:"mbps"`
	MinMBps  float64 `json:"min_mbps"` // 0: measured only
	Status   string  `json:"status"`
	Observed string  `json:"observed"`
}

// Hops is one network's checks, hop by hop in the order the agent ran them.
type Hops struct {
	Network string         `json:"network"`
	Hops    []check.Result `json:"hops"`
}

// historyEvents is how many of a node's latest events the node view reads.
const historyEvents = 500

// buildNode is the node view from the inventory, the record and the node's events.
func buildNode(inv *inventory.Inventory, nd *inventory.Node, n state.Node, s *summary, evs []state.Event, last uint64, now time.Time) NodeView {
	b := box(nd, n, s)
	v := NodeView{Name: nd.Name, Rack: nd.Rack, Unit: nd.Unit, Height: b.Height, Role: nd.Role, Profile: nd.Profile,
		Labels: nd.Labels, Lock: b.Lock, Interfaces: []Interface{}, Checks: []check.Result{}, Storage: []Rate{},
		Networks: []Hops{}, GPUs: []check.GPU{}, Events: []state.Event{}, LastSeq: last,
		BMC: BMC{Address: nd.BMC.Address, Protocol: nd.BMC.Protocol, Port: nd.BMC.Port, Vendor: nd.BMC.Vendor, Power: n.Power}}
	v.BMC.Power.Err = text(v.BMC.Power.Err)
	for _, ifc := range nd.Interfaces {
		v.Interfaces = append(v.Interfaces, Interface{Name: ifc.Name, MAC: ifc.MAC, Network: ifc.Network, Address: ifc.Address, PXE: ifc.PXE})
	}
	if n.Name != "" {
		v.Status = api.StatusOf(n)
		v.Status.Reason = text(v.Status.Reason)
		v.Status.LastEvent = nil // the events are below
		if d := api.DetailOf(n); d.Deploy != nil {
			dep := *d.Deploy
			dep.Error = text(dep.Error)
			v.Deploy = &dep
		}
	} else {
		v.Status = api.NodeStatus{Name: nd.Name, Phase: lifecycle.Enrolled}
	}
	if len(evs) > historyEvents {
		evs = evs[len(evs)-historyEvents:]
	}
	v.Events = append(v.Events, evs...)
	v.History = history(evs, now)

	if r := s.report; r != nil {
		h := &ReportHead{Time: r.Time, Agent: text(r.Agent), BootSource: text(r.BootSource), OS: text(r.OS), Kernel: text(r.Kernel)}
		if h.Time.IsZero() {
			h.Time = n.ReportAt
		}
		for _, res := range s.results {
			res.Name, res.Observed, res.Expected, res.Message = text(res.Name), text(res.Observed), text(res.Expected), text(res.Message)
			v.Checks = append(v.Checks, res)
			switch res.Status {
			case check.Fail:
				h.Failed++
			case check.Warn:
				h.Warned++
			case check.Pass:
				h.Passed++
			}
		}
		v.Report = h
		v.Storage = rates(nd, s.results)
		v.Networks = hops(nd, inv, s.results)
		for _, g := range s.gpus {
			g.Name, g.UUID, g.PCI = text(g.Name), text(g.UUID), text(g.PCI)
			v.GPUs = append(v.GPUs, g)
		}
	}
	return v
}

// history folds the events' phases into stays, oldest first.
func history(evs []state.Event, now time.Time) []Span {
	out := []Span{}
	for _, e := range evs {
		if e.Phase == "" {
			continue
		}
		if len(out) > 0 && out[len(out)-1].Phase == e.Phase {
			continue
		}
		if len(out) > 0 {
			prev := &out[len(out)-1]
			prev.Seconds = e.Time.Sub(prev.From).Seconds()
		}
		out = append(out, Span{Phase: e.Phase, From: e.Time})
	}
	if len(out) > 0 {
		last := &out[len(out)-1]
		last.Seconds = now.Sub(last.From).Seconds()
		last.Open = true
	}
	return out
}

// rates pairs the report's storage throughputs (storage.MOUNT.write|read) with the
// profile's minimums.
func rates(nd *inventory.Node, rs []check.Result) []Rate {
	mins := map[string]float64{}
	if nd.Spec != nil {
		for _, st := range nd.Spec.Expect.Storage {
			mins[st.Mount+".write"] = st.MinWriteMBps
			mins[st.Mount+".read"] = st.MinReadMBps
		}
	}
	out := []Rate{}
	for _, r := range rs {
		rest, ok := strings.CutPrefix(r.Name, "storage.")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '.')
		if i < 0 {
			continue
		}
		mount, op := rest[:i], rest[i+1:]
		if op != "write" && op != "read" {
			continue
		}
		out = append(out, Rate{Mount: text(mount), Op: op, MBps: leadingNumber(r.Observed), MinMBps: mins[rest],
			Status: string(r.Status), Observed: text(r.Observed)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Mount != out[j].Mount {
			return out[i].Mount < out[j].Mount
		}
		return out[i].Op > out[j].Op // write, then read, as the agent measures them
	})
	return out
}

// leadingNumber is the number an observed rate starts with ("812 MB/s (...)"), 0 if none.
func leadingNumber(s string) float64 {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	f, _ := strconv.ParseFloat(s[:end], 64)
	return f
}

// hops groups the report's network checks (net.NETWORK.HOP) by network, in the order of
// the node's interfaces' networks, then any other the agent checked.
func hops(nd *inventory.Node, inv *inventory.Inventory, rs []check.Result) []Hops {
	byNet := map[string][]check.Result{}
	var order []string
	for _, r := range rs {
		nw, hop := netCheck(r.Name, inv)
		if nw == "" {
			continue
		}
		if _, seen := byNet[nw]; !seen {
			order = append(order, nw)
		}
		r.Name, r.Observed, r.Expected, r.Message = text(hop), text(r.Observed), text(r.Expected), text(r.Message)
		byNet[nw] = append(byNet[nw], r)
	}
	rank := map[string]int{}
	for i, ifc := range nd.Interfaces {
		if _, ok := rank[ifc.Network]; !ok {
			rank[ifc.Network] = i
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		ri, iok := rank[order[i]]
		rj, jok := rank[order[j]]
		if iok != jok {
			return iok
		}
		return ri < rj
	})
	out := []Hops{}
	for _, nw := range order {
		hs := byNet[nw]
		sort.SliceStable(hs, func(i, j int) bool { return hopRank(hs[i].Name) < hopRank(hs[j].Name) })
		out = append(out, Hops{Network: text(nw), Hops: hs})
	}
	return out
}

// hopOrder is the order the agent checks a network in (pkg/agent/netcheck): a failed
// hop ends the checks below it, so the first red one is the one to fix.
var hopOrder = []string{"link", "carrier", "speed", "vlan", "vlan.up", "mtu", "address", "gateway", "reach"}

func hopRank(h string) int {
	if i := slices.Index(hopOrder, h); i >= 0 {
		return i
	}
	return len(hopOrder) // peers, LLDP and whatever comes later, after the fixed hops
}

// netCheck splits "net.NETWORK.HOP" into the network and the hop. Network names may hold
// dots, so the inventory's names are tried longest first; "" when r is no network check.
func netCheck(name string, inv *inventory.Inventory) (string, string) {
	rest, ok := strings.CutPrefix(name, "net.")
	if !ok {
		return "", ""
	}
	best := ""
	for _, nw := range inv.Networks {
		if (rest == nw.Name || strings.HasPrefix(rest, nw.Name+".")) && len(nw.Name) > len(best) {
			best = nw.Name
		}
	}
	if best == "" {
		nw, hop, _ := strings.Cut(rest, ".")
		return nw, hop
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(rest, best), ".")
}

// Networks is the networks view's document (GET /ui/api/networks): nodes × networks,
// each cell the hops the node's last report checked on that network.
type Networks struct {
	Networks []Network `json:"networks"`
	Nodes    []NetRow  `json:"nodes"`
	LastSeq  uint64    `json:"last_seq"`
	Selector string    `json:"selector,omitempty"`
}

// Network is one of the site's networks as the inventory defines it.
type Network struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	VLAN    int    `json:"vlan,omitempty"`
	CIDR    string `json:"cidr"`
	MTU     int    `json:"mtu"`
	Gateway string `json:"gateway,omitempty"`
}

// NetRow is one node's row.
type NetRow struct {
	Name  string          `json:"name"`
	Rack  string          `json:"rack"`
	Unit  int             `json:"unit"`
	Phase string          `json:"phase"`
	Cells map[string]Cell `json:"cells"` // by network name
}

// Cell is one node on one network: whether it has an interface there, and the status of
// each column (link, vlan, mtu, gateway, lldp) from its last report, "" when not checked.
// Failed names the first failed hop with its message.
type Cell struct {
	Interface string `json:"interface,omitempty"`
	Link      string `json:"link,omitempty"`
	VLAN      string `json:"vlan,omitempty"`
	MTU       string `json:"mtu,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	LLDP      string `json:"lldp,omitempty"`
	Failed    string `json:"failed,omitempty"`

	failedRank int
}

// column is the matrix column a hop counts towards: the link covers the NIC, its
// carrier and speed; the VLAN the sub-interface; the gateway the address and ARP reply;
// peers count as reach (shown in the cell's failure).
func column(hop string) string {
	switch {
	case hop == "link" || hop == "carrier" || hop == "speed":
		return "link"
	case hop == "vlan" || hop == "vlan.up":
		return "vlan"
	case hop == "mtu":
		return "mtu"
	case hop == "address" || hop == "gateway":
		return "gateway"
	case strings.HasPrefix(hop, "lldp"), strings.HasPrefix(hop, "switch"):
		return "lldp"
	}
	return ""
}

// worse is the worse of two statuses (fail > warn > pass > "").
func worse(a, b string) string {
	rank := map[string]int{"": 0, "pass": 1, "warn": 2, "fail": 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func buildNetworks(inv *inventory.Inventory, records map[string]state.Node, sums *summaries, sel map[string]bool) Networks {
	out := Networks{Networks: []Network{}, Nodes: []NetRow{}}
	for _, nw := range inv.Networks {
		mtu := nw.MTU
		if mtu == 0 {
			mtu = 1500
		}
		out.Networks = append(out.Networks, Network{Name: nw.Name, Role: nw.Role, VLAN: nw.VLAN, CIDR: nw.CIDR, MTU: mtu, Gateway: nw.Gateway})
	}
	for _, nd := range inv.Nodes {
		if sel != nil && !sel[nd.Name] {
			continue
		}
		n := records[nd.Name]
		row := NetRow{Name: nd.Name, Rack: nd.Rack, Unit: nd.Unit, Phase: n.Phase, Cells: map[string]Cell{}}
		if row.Phase == "" {
			row.Phase = string(lifecycle.Enrolled)
		}
		for _, ifc := range nd.Interfaces {
			c := row.Cells[ifc.Network]
			if c.Interface == "" {
				c.Interface = ifc.Name
			}
			row.Cells[ifc.Network] = c
		}
		for _, r := range sums.of(n).results {
			nw, hop := netCheck(r.Name, inv)
			if nw == "" {
				continue
			}
			c := row.Cells[nw]
			st := string(r.Status)
			switch column(hop) {
			case "link":
				c.Link = worse(c.Link, st)
			case "vlan":
				c.VLAN = worse(c.VLAN, st)
			case "mtu":
				c.MTU = worse(c.MTU, st)
			case "gateway":
				c.Gateway = worse(c.Gateway, st)
			case "lldp":
				c.LLDP = worse(c.LLDP, st)
			}
			// The first failed hop in the agent's order is the one to fix.
			if r.Status == check.Fail && (c.Failed == "" || hopRank(hop) < c.failedRank) {
				c.Failed, c.failedRank = text(hop+": "+firstNonEmpty(r.Message, r.Observed)), hopRank(hop)
			}
			row.Cells[nw] = c
		}
		out.Nodes = append(out.Nodes, row)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
