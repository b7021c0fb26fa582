package server

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/provisioner"
)

// DefaultAgentPort is the agent API's port on serve's address.
const DefaultAgentPort = 8443

// Provision is the provisioning core's part of serve's configuration (pkg/provisioner:
// state, lifecycle, agent API, control API); New opens the core with it on serve's
// address and state directory.
type Provision struct {
	// ControlAPI is where the CLI reaches serve (--api): "" for the unix socket in the
	// state directory, or http://127.0.0.1:PORT.
	ControlAPI string
	// AgentPort is the agent API's port on serve's address; 0: DefaultAgentPort.
	AgentPort int
	// AgentURL is the agent API's URL nodes are told instead of serve's address and
	// AgentPort: a load balancer's in front of several instances (--agent-url).
	AgentURL string
	// SecretsFile holds the BMC passwords (--secrets); "": $RACKLIFT_SECRETS or
	// inventory.DefaultSecretsFile.
	SecretsFile string
	// The lifecycle's tuning; zero values take lifecycle's defaults.
	Wave       int           // nodes power-cycled and not yet past pxe at once; 0: no limit
	Attempts   int           // attempts per node and up run, each with one power cycle
	BMCTimeout time.Duration // one BMC call
	// PhaseTimeouts override phases' timeouts, as --phase-timeout gives them:
	// phase name → duration ("booting": "20m").
	PhaseTimeouts map[string]string

	// Shared: the state on etcd, shared with other serve instances (--store etcd); nil:
	// state.db in the state directory. Its Networks are filled in with serve's network.
	Shared *provisioner.Shared

	// For tests: the agent API on this host:port instead of serve's address and
	// AgentPort, BMC power replaced, and the lifecycle's tick.
	AgentListen string
	Power       lifecycle.Power
	Tick        time.Duration
}

// coreConfig is the core's configuration on serve's address ip: its certificate names
// ip, and the agent API listens on ip:AgentPort unless AgentListen says otherwise.
func (cfg Config) coreConfig(ip netip.Addr, lc lifecycle.Config) provisioner.Config {
	p := cfg.Provision
	listen := p.AgentListen
	if listen == "" {
		port := p.AgentPort
		if port == 0 {
			port = DefaultAgentPort
		}
		listen = netip.AddrPortFrom(ip, uint16(port)).String()
	}
	return provisioner.Config{
		StateDir: cfg.StateDir, Hosts: []string{ip.String()}, AgentListen: listen, AgentURL: p.AgentURL, ControlAPI: p.ControlAPI,
		Power: p.Power, Secrets: &inventory.Secrets{File: p.SecretsFile}, Lifecycle: lc, Tick: p.Tick, Log: cfg.Log,
		Shared: p.Shared,
	}
}

// lifecycle is the lifecycle's tuning; a phase timeout naming no timed phase, or not a
// positive duration, is an error naming the flag.
func (p *Provision) lifecycle() (lifecycle.Config, error) {
	lc := lifecycle.Config{Wave: p.Wave, MaxAttempts: p.Attempts, BMCTimeout: p.BMCTimeout}
	phases := make([]string, 0, len(p.PhaseTimeouts))
	for phase := range p.PhaseTimeouts {
		phases = append(phases, phase)
	}
	sort.Strings(phases) // the first bad one is the same on every run
	for _, phase := range phases {
		v := p.PhaseTimeouts[phase]
		ph := lifecycle.Phase(phase)
		if _, ok := lifecycle.DefaultTimeouts[ph]; !ok {
			return lc, fmt.Errorf("--phase-timeout %s=%s: no such timed phase (powering, pxe, booting, agent, validating, deploying, rebooting, installed)", phase, v)
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return lc, fmt.Errorf("--phase-timeout %s=%s: want a positive duration such as 10m", phase, v)
		}
		if lc.Timeouts == nil {
			lc.Timeouts = map[lifecycle.Phase]time.Duration{}
		}
		lc.Timeouts[ph] = d
	}
	return lc, nil
}
