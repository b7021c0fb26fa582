// Package redfish is a virtual BMC speaking the Redfish subset bmclib's gofish provider
// uses: service root, session login, one ComputerSystem with power and boot override,
// its Reset action, a Manager and a Chassis. Each BMC listens with TLS on its own
// loopback address, so a test or a benchmark can run a thousand of them in one process,
// and has fault knobs (latency, 503 window, hang, refused connections, a dropped boot
// override) and counters that tests read to assert what a command really did.
package redfish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes one virtual BMC.
type Config struct {
	// Addr is the loopback address to listen on, e.g. "127.0.3.7:0" (port 0: any free).
	Addr     string
	Username string
	Password string
	// Identity the BMC reports.
	Manufacturer string // default "Supermicro"
	Model        string // default "SYS-821GE-TNHR"
	Firmware     string // BMC firmware, default "01.03.12"
	Serial       string
	BiosVersion  string // the system's BIOS, default "2.1.7"
	Health       string // the system's Status.Health, default "OK"
	// CA signs the BMC's certificate; nil gives a certificate nobody trusts.
	CA *CA
	// Machine is what the BMC powers; nil: a new MemMachine.
	Machine Machine
}

// BMC is a running virtual BMC.
type BMC struct {
	cfg     Config
	machine Machine
	cert    tls.Certificate
	srv     *http.Server

	mu        sync.Mutex
	ln        net.Listener
	served    chan struct{} // closed when Serve on ln has returned
	addr      string        // host:port, fixed after Start
	faults    Faults
	unavail   time.Time // 503 until then
	boot      bootState
	sessions  map[string]session // token -> session
	nextSess  int
	etag      int
	tasks     map[string]*task // task monitors by id
	nextTask  int
	transit   transition // PoweringOn/PoweringOff shown until it ends
	boot1     bool       // DropFirstBootOverride: the first PATCH was dropped
	closed    chan struct{}
	closeOnce sync.Once
	serving   sync.WaitGroup

	counts counters
}

type bootState struct {
	Enabled string // Disabled, Once, Continuous
	Target  string
	Mode    string // UEFI, Legacy
}

// Faults are the misbehaviours a BMC can be told to show.
type Faults struct {
	// Latency is added before every Redfish answer.
	Latency time.Duration
	// UnavailableAfterReset makes the BMC answer 503 for this long after a reset of
	// the system or of the manager, like a BMC busy rebooting or re-reading sensors.
	UnavailableAfterReset time.Duration
	// Hang makes the BMC accept requests and never answer.
	Hang bool
	// Hold, when not nil, makes every request wait until it is closed (or the client
	// gives up), then answer as usual: a hung BMC that comes back when a test says so,
	// so the test can watch what happens meanwhile instead of racing a deadline.
	Hold <-chan struct{}
	// DropBootOverride makes a boot override PATCH answer 204 and change nothing
	// (Supermicro, bmclib issue 459).
	DropBootOverride bool
	// BootEnabled and BootMode, when set, are what a boot override PATCH stores instead
	// of the requested once/persistent and UEFI/legacy (the target is kept): firmware
	// that keeps only a persistent UEFI override.
	BootEnabled, BootMode string
	// RejectLogin refuses every login as if the password were wrong.
	RejectLogin bool

	// RequireIfMatch refuses a PATCH or a Reset without If-Match with 428
	// (Supermicro), and publishes the ETag only as @odata.etag in the body, so a
	// client must fetch it after the 428.
	RequireIfMatch bool
	// TaskMonitor answers a Reset with 202 Accepted and a task monitor in Location;
	// the power change happens when the task completes, this long after.
	TaskMonitor time.Duration
	// TaskFails makes a task monitor's task end in Exception, the reset not done.
	TaskFails bool
	// SessionLimit refuses a login with 503 SessionLimitExceeded while this many
	// sessions are open (iDRAC allows a handful); 0: no limit.
	SessionLimit int
	// SlowTransition shows PowerState PoweringOn or PoweringOff for this long after
	// each power change.
	SlowTransition time.Duration
	// IgnorePower accepts every Reset (204) and changes nothing: accepted, not applied.
	IgnorePower bool
	// RefuseReset answers every Reset with this HTTP status and a Redfish message.
	RefuseReset int
	// DropFirstBootOverride answers the first boot override PATCH 204 and keeps
	// nothing; later ones are kept.
	DropFirstBootOverride bool
	// OnceBecomesContinuous keeps a one-time boot override as Continuous.
	OnceBecomesContinuous bool
	// EmptySystems and EmptyChassis make the Systems and the Chassis collections list
	// no member (a BMC that has not discovered its system yet, or has no chassis).
	EmptySystems, EmptyChassis bool
}

// session is one open Redfish session.
type session struct {
	ID, User, Type string
}

// task is a reset answered with a task monitor.
type task struct {
	ID        string
	ResetType string
	Done      time.Time
	Err       error
	applied   bool
}

// transition is a power change the BMC still reports as under way.
type transition struct {
	State string // PoweringOn, PoweringOff
	Until time.Time
}

// New prepares a BMC; Start makes it listen.
func New(cfg Config) *BMC {
	if cfg.Manufacturer == "" {
		cfg.Manufacturer = "Supermicro"
	}
	if cfg.Model == "" {
		cfg.Model = "SYS-821GE-TNHR"
	}
	if cfg.Firmware == "" {
		cfg.Firmware = "01.03.12"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.BiosVersion == "" {
		cfg.BiosVersion = "2.1.7"
	}
	if cfg.Health == "" {
		cfg.Health = "OK"
	}
	m := cfg.Machine
	if m == nil {
		m = NewMemMachine()
	}
	return &BMC{
		cfg:      cfg,
		machine:  m,
		boot:     bootState{Enabled: "Disabled", Target: BootNone, Mode: "UEFI"},
		sessions: map[string]session{},
		tasks:    map[string]*task{},
		closed:   make(chan struct{}),
	}
}

// Start listens and serves in the background.
func (b *BMC) Start() error {
	ln, err := net.Listen("tcp", b.cfg.Addr)
	if err != nil {
		return fmt.Errorf("virtual BMC: listen %s: %w", b.cfg.Addr, err)
	}
	ip := ln.Addr().(*net.TCPAddr).IP
	if b.cfg.CA != nil {
		b.cert, err = b.cfg.CA.Issue(ip)
	} else {
		b.cert, err = selfSigned(ip)
	}
	if err != nil {
		ln.Close()
		return err
	}
	b.addr = ln.Addr().String()
	if b.cfg.Serial == "" {
		b.cfg.Serial = "RL" + strings.NewReplacer(".", "", ":", "").Replace(b.addr)
	}
	b.srv = &http.Server{
		Handler:           b.routes(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{b.cert}},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // clients hanging up are expected
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				b.counts.connections.Add(1)
			}
		},
	}
	b.serve(ln)
	return nil
}

func (b *BMC) serve(ln net.Listener) {
	served := make(chan struct{})
	b.mu.Lock()
	b.ln, b.served = ln, served
	b.mu.Unlock()
	tln := tls.NewListener(ln, b.srv.TLSConfig)
	b.serving.Add(1)
	go func() {
		defer b.serving.Done()
		defer close(served)
		_ = b.srv.Serve(tln)
	}()
}

// Close stops the BMC and releases hung requests.
func (b *BMC) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = b.srv.Close()
	}
	return err
}

// Addr is the host:port the BMC listens on.
func (b *BMC) Addr() string { return b.addr }

// Host is the BMC's IP address.
func (b *BMC) Host() string { h, _, _ := net.SplitHostPort(b.addr); return h }

// Port is the BMC's TCP port.
func (b *BMC) Port() int { _, p, _ := net.SplitHostPort(b.addr); n, _ := strconv.Atoi(p); return n }

// URL is the BMC's base URL.
func (b *BMC) URL() string { return "https://" + b.addr }

// Fingerprint is the hex SHA-256 of the BMC's certificate.
func (b *BMC) Fingerprint() string { return Fingerprint(b.cert.Certificate[0]) }

// Machine is the machine the BMC powers.
func (b *BMC) Machine() Machine { return b.machine }

// SetFaults replaces the BMC's faults.
func (b *BMC) SetFaults(f Faults) {
	b.mu.Lock()
	b.faults = f
	b.mu.Unlock()
}

// Faults returns the BMC's current faults.
func (b *BMC) Faults() Faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults
}

// Unavailable makes the BMC answer 503 for d from now.
func (b *BMC) Unavailable(d time.Duration) {
	b.mu.Lock()
	b.unavail = time.Now().Add(d)
	b.mu.Unlock()
}

// Refuse closes the BMC's listening socket for d, so connections are refused as
// during a BMC reboot, then listens again on the same address.
func (b *BMC) Refuse(d time.Duration) error {
	done := make(chan struct{})
	time.AfterFunc(d, func() { close(done) })
	return b.RefuseUntil(done)
}

// RefuseUntil is Refuse until done is closed: a test ends the refusal once it has seen
// the client refused, whatever the machine's speed.
func (b *BMC) RefuseUntil(done <-chan struct{}) error {
	b.mu.Lock()
	ln, served := b.ln, b.served
	b.mu.Unlock()
	// Closing the TLS listener ends Serve; the server itself stays usable. The socket
	// is closed only once the Accept blocked on it has returned: until Serve returns, a
	// connection can still be queued, and then reset instead of refused.
	if err := ln.Close(); err != nil {
		return err
	}
	<-served
	go func() {
		select {
		case <-done:
		case <-b.closed:
			return
		}
		for i := 0; i < 50; i++ {
			nl, err := net.Listen("tcp", b.addr)
			if err == nil {
				b.serve(nl)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return nil
}

// OpenSession opens a session as if a client had logged in (and never logged out):
// the stale sessions a session limit counts. typ is the SessionType, e.g. Redfish or
// WebUI.
func (b *BMC) OpenSession(user, typ string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextSess++
	b.sessions[fmt.Sprintf("stale-%d", b.nextSess)] = session{ID: strconv.Itoa(b.nextSess), User: user, Type: typ}
}

// Transition makes the BMC report PowerState state (PoweringOn, PoweringOff) for d,
// as after a power change with SlowTransition.
func (b *BMC) Transition(state string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.transit = transition{State: state, Until: time.Now().Add(d)}
}

// Sessions is the number of open sessions.
func (b *BMC) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// BootOverride is the boot override the BMC holds now.
type BootOverride struct {
	Enabled string `json:"enabled"` // Disabled, Once, Continuous
	Target  string `json:"target"`  // None, Pxe, Hdd, BiosSetup
	Mode    string `json:"mode"`    // UEFI, Legacy
}

// BootOverride returns the BMC's current boot override.
func (b *BMC) BootOverride() BootOverride {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BootOverride(b.boot)
}
