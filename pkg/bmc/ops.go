package bmc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// Power actions. Cycle is a hard power-off then on; Reset is a warm reset. (bmclib's
// own words differ by provider: its Redfish "reset" is PowerCycle and its "cycle" is
// ForceRestart, so the mapping is done here.)
const (
	PowerStatus = "status"
	PowerOn     = "on"
	PowerOff    = "off"
	PowerSoft   = "soft" // graceful shutdown through the OS
	PowerCycle  = "cycle"
	PowerReset  = "reset"
)

// PowerActions lists the actions Power accepts.
var PowerActions = []string{PowerStatus, PowerOn, PowerOff, PowerSoft, PowerCycle, PowerReset}

// Destructive reports whether a power action can interrupt a running OS.
func Destructive(action string) bool {
	switch action {
	case PowerOff, PowerSoft, PowerCycle, PowerReset:
		return true
	}
	return false
}

// Boot devices.
const (
	BootPXE  = "pxe"
	BootDisk = "disk"
	BootBIOS = "bios"
)

// Boot is a boot override to set.
type Boot struct {
	Device     string `json:"device"`     // pxe, disk or bios
	Persistent bool   `json:"persistent"` // every boot, not only the next
	Legacy     bool   `json:"legacy"`     // BIOS (legacy) boot instead of UEFI
}

func (b Boot) String() string {
	s := b.Device
	if b.Persistent {
		s += ", persistent"
	} else {
		s += ", once"
	}
	if b.Legacy {
		s += ", legacy"
	} else {
		s += ", UEFI"
	}
	return s
}

// Op is one operation on a BMC: a power action, a boot override, or reading its
// identity. Boot and a power action together set the override and act at once, in one
// session: IPMI BMCs forget an override within 60 s unless a reset follows it.
type Op struct {
	Power string // one of PowerActions
	Boot  *Boot
	Info  bool
}

// Name is the operation as the result table shows it.
func (op Op) Name() string {
	switch {
	case op.Info:
		return "bmc info"
	case op.Boot != nil && op.Power != "" && op.Power != PowerStatus:
		return "boot " + op.Boot.Device + " + power " + op.Power
	case op.Boot != nil:
		return "boot " + op.Boot.Device
	}
	return "power " + op.Power
}

// Info is what a BMC says about its machine and itself. Every field is in the JSON,
// empty where the BMC did not say.
type Info struct {
	Vendor   string `json:"vendor"`
	Model    string `json:"model"`
	Serial   string `json:"serial"`
	BIOS     string `json:"bios_version"`
	Firmware string `json:"bmc_firmware"`
	Power    string `json:"power"`
	Health   string `json:"health"`
}

// Outcome is what an operation observed on the BMC afterwards.
type Outcome struct {
	Power    string `json:"power,omitempty"` // power state read back
	Boot     *Boot  `json:"boot,omitempty"`  // boot override read back
	Info     *Info  `json:"info,omitempty"`
	Note     string `json:"note,omitempty"`
	Attempts int    `json:"attempts"`
}

// NotApplied is a change the BMC accepted and did not make: what was asked, when the
// BMC accepted it, and what it still reports, for how long.
type NotApplied struct {
	Asked        string    `json:"asked"`
	AcceptedAt   time.Time `json:"accepted_at"`
	StillReports string    `json:"still_reports"`
	ForSeconds   float64   `json:"for_seconds"`
}

// Do runs op on the target's BMC within o.Timeout, retrying while the BMC answers 503
// or refuses connections. It returns when the deadline passes even if the BMC hangs.
// The error, if any, is an *Error.
func Do(ctx context.Context, t Target, op Op, o Options) (out Outcome, err error) {
	if o.Observe != nil {
		defer func() { o.Observe(op.Name(), ResultOf(err)) }()
	}
	out, err = do(ctx, t, op, o)
	return out, err
}

// ResultOf is "ok" for nil, else the *Error's Kind ("other" for any other error).
func ResultOf(err error) string {
	if err == nil {
		return "ok"
	}
	var be *Error
	if errors.As(err, &be) && be.Kind != "" {
		return string(be.Kind)
	}
	return string(KindOther)
}

func do(ctx context.Context, t Target, op Op, o Options) (Outcome, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	backoff := o.Backoff
	var out Outcome
	st := &state{}
	var busy error // the latest attempt's "not now" (503, refused connection)
	for attempt := 1; ; attempt++ {
		tr := &trail{}
		var err error
		out, err = attemptOnce(ctx, t, op, o, st, tr)
		out.Attempts = attempt
		_, notes, limit, _ := tr.snapshot()
		if len(notes) > 0 {
			out.Note = strings.Join(append(notes, out.Note), "; ")
			out.Note = strings.TrimSuffix(out.Note, "; ")
		}
		if err == nil {
			return out, nil
		}
		if busyAnswer(err) {
			busy = err
		} else if busy != nil && ctx.Err() == context.DeadlineExceeded && (timeoutErr(err) || closedErr(err)) {
			// The deadline cut a retry short before the BMC said anything: the cause is
			// what it said before. Without this, the same BMC was "unavailable" on a fast
			// machine and "silent" on a loaded one, where the deadline falls in a retry.
			err = busy
		}
		if !retryable(err) || ctx.Err() != nil || limit != "" {
			return out, t.wrap(op, err, attempt, ctx, tr)
		}
		if o.OnRetry != nil {
			o.OnRetry(attempt, err)
		}
		wait := time.NewTimer(backoff)
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return out, t.wrap(op, err, attempt, ctx, tr)
		}
		backoff = min(backoff*2, o.MaxBackoff)
	}
}

// attemptOnce runs one try; it gives up at the deadline even if the library does not,
// after waiting a moment for the try to log out.
func attemptOnce(ctx context.Context, t Target, op Op, o Options, st *state, tr *trail) (Outcome, error) {
	type result struct {
		out Outcome
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := run(ctx, t, op, o, st, tr)
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		return r.out, r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(logoutGrace + 500*time.Millisecond)
	defer grace.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.out, r.err
		}
		return r.out, nil
	case <-grace.C:
		return Outcome{}, ctx.Err()
	}
}

// state carries across retries what the BMC already took: a retry after that only
// reads back, so a 503 during the read-back never sends a second power cycle.
type state struct{ powered, bootSet, reapplied atomic.Bool }

func run(ctx context.Context, t Target, op Op, o Options, st *state, tr *trail) (Outcome, error) {
	if op.Info && t.Protocol != "ipmi" {
		return redfishInfo(ctx, t, o, tr)
	}
	c, err := open(ctx, t, o, tr)
	if err != nil {
		return Outcome{}, err
	}
	defer c.close(ctx)
	switch {
	case op.Info:
		info, err := c.info(ctx)
		return Outcome{Info: info}, err
	case op.Boot != nil && op.Power != "" && op.Power != PowerStatus:
		bo, err := c.setBoot(ctx, *op.Boot, st)
		if err != nil {
			return bo, err
		}
		out, err := c.power(ctx, op.Power, st)
		out.Boot = bo.Boot
		out.Note = strings.TrimPrefix(strings.Join([]string{bo.Note, out.Note}, "; "), "; ")
		out.Note = strings.TrimSuffix(out.Note, "; ")
		return out, err
	case op.Boot != nil:
		return c.setBoot(ctx, *op.Boot, st)
	case op.Power == PowerStatus:
		s, err := c.powerState(ctx)
		return Outcome{Power: s}, err
	default:
		return c.power(ctx, op.Power, st)
	}
}

// settleReserve is the part of the deadline kept back from waiting for a power
// change: enough to read the state one last time, log out and say what was seen.
func settleReserve(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 100*time.Millisecond), 2*time.Second)
}

// transitional reports whether s is a power state on its way to another.
func transitional(s string) bool { return s == "powering on" || s == "powering off" }

// power runs a power action and reads the state back until it shows or the deadline
// nears: a BMC that accepted the request and still shows the old state is reported as
// such (not-applied), never as silent.
func (c *Client) power(ctx context.Context, action string, st *state) (Outcome, error) {
	lib := action
	if c.t.Protocol == "redfish" {
		// bmclib redfish: "reset" sends PowerCycle, "cycle" sends ForceRestart.
		switch action {
		case PowerCycle:
			lib = "reset"
		case PowerReset:
			lib = "cycle"
		}
	}
	ok, err := true, error(nil)
	if !st.powered.Load() {
		ok, err = c.bc.SetPowerState(ctx, lib)
	}
	if err != nil && action == PowerSoft && c.t.Protocol == "redfish" {
		// bmclib's redfish soft-off reports "not ok" after the BMC accepted the
		// GracefulShutdown; only an error from the provider itself is a failure.
		md := c.bc.GetMetadata()
		if len(md.FailedProviderDetail) == 0 && ctx.Err() == nil {
			err, ok = nil, true
		}
	}
	if err != nil {
		return Outcome{}, err
	}
	if !ok {
		return Outcome{}, fmt.Errorf("the BMC did not confirm power %s", action)
	}
	st.powered.Store(true)
	accepted := time.Now()
	want := "on"
	if action == PowerOff {
		want = "off"
	}
	until := deadlineOf(ctx).Add(-settleReserve(c.o.Timeout))
	var transitSince time.Time
	// Power changes take seconds on real BMCs, tens of seconds through PoweringOn.
	for {
		s, err := c.powerState(ctx)
		if err != nil {
			return Outcome{}, fmt.Errorf("power %s was accepted, reading the state back failed: %w", action, err)
		}
		if transitional(s) && transitSince.IsZero() {
			transitSince = time.Now()
		}
		if action == PowerSoft { // whatever it reads now, even "on": the OS decides
			return Outcome{Power: s, Note: "graceful shutdown requested; the OS decides when power goes off"}, nil
		}
		if s == want {
			out := Outcome{Power: s}
			if !transitSince.IsZero() {
				out.Note = fmt.Sprintf("the BMC reported the transition (%s) for %s", transitName(want), time.Since(transitSince).Round(100*time.Millisecond))
			}
			return out, nil
		}
		if !time.Now().Before(until) {
			return Outcome{Power: s}, &notApplied{NotApplied{Asked: "power " + action, AcceptedAt: accepted, StillReports: s,
				ForSeconds: time.Since(accepted).Seconds()}}
		}
		select {
		case <-ctx.Done():
			return Outcome{Power: s}, ctx.Err()
		case <-time.After(min(500*time.Millisecond, max(time.Until(until), time.Millisecond))):
		}
	}
}

func transitName(want string) string {
	if want == "off" {
		return "PoweringOff"
	}
	return "PoweringOn"
}

// notApplied is a change the BMC accepted and did not make before the deadline.
type notApplied struct{ NotApplied }

func (n *notApplied) Error() string {
	verb := "still reports"
	if transitional(n.StillReports) {
		verb = "is still in transition, reporting"
	}
	return fmt.Sprintf("the BMC accepted %s at %s and %s %s after %.1fs", n.Asked, n.AcceptedAt.Format("15:04:05"), verb,
		dash(n.StillReports), n.ForSeconds)
}

// setBoot sets the boot override and reads it back; a BMC that dropped or changed it
// gets it once more, then the result says what it holds.
func (c *Client) setBoot(ctx context.Context, b Boot, st *state) (Outcome, error) {
	switch b.Device {
	case BootPXE, BootDisk, BootBIOS:
	default:
		return Outcome{}, fmt.Errorf("unknown boot device %q (use pxe, disk or bios)", b.Device)
	}
	set := func() error {
		ok, err := c.bc.SetBootDevice(ctx, b.Device, b.Persistent, !b.Legacy)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("the BMC did not confirm the boot override")
		}
		return nil
	}
	if !st.bootSet.Load() {
		if err := set(); err != nil {
			return Outcome{}, err
		}
		st.bootSet.Store(true)
	}
	read := func() (Outcome, Boot, error) {
		got, flagsValid, err := c.readBoot(ctx)
		if err != nil {
			return Outcome{}, got, err
		}
		out := Outcome{Boot: &got}
		if !flagsValid {
			// Only the device can be compared; say so rather than guess.
			got.Persistent, got.Legacy = b.Persistent, b.Legacy
			out.Note = "device read back; the BMC marks its boot flags invalid, so once/persistent and UEFI/legacy are not confirmed"
		}
		return out, got, nil
	}
	out, got, err := read()
	if errors.Is(err, errNoReadBack) {
		return Outcome{Note: "this BMC cannot report its boot override; it was set but not read back"}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("the boot override was accepted, reading it back failed: %w", err)
	}
	if got == b {
		return out, nil
	}
	first := got
	if !st.reapplied.Swap(true) {
		if err := set(); err != nil {
			return out, fmt.Errorf("the BMC %s the boot override (%s); setting it once more failed: %w", (&dropped{want: b, got: first}).verb(), first, err)
		}
		if out, got, err = read(); err != nil {
			return Outcome{}, fmt.Errorf("the boot override was set once more, reading it back failed: %w", err)
		}
		if got == b {
			out.Note = strings.TrimPrefix(out.Note+"; ", "; ") + fmt.Sprintf("the BMC %s the override at first (read back: %s); set once more, it holds", (&dropped{want: b, got: first}).verb(), first)
			return out, nil
		}
	}
	return out, &dropped{want: b, got: got, again: true}
}

var errNoReadBack = errors.New("boot override cannot be read back")

// dropped is a boot override the BMC accepted and did not keep as asked.
type dropped struct {
	want, got Boot
	again     bool // also after setting it once more
}

// changed reports whether the BMC kept the device but not the flags (Once turned
// Continuous, UEFI turned legacy), rather than dropping the override.
func (d *dropped) changed() bool { return d.got.Device == d.want.Device }

func (d *dropped) verb() string {
	if d.changed() {
		return "changed"
	}
	return "dropped"
}

func (d *dropped) Error() string {
	s := fmt.Sprintf("the BMC accepted the boot override (%s) but reading it back shows (%s): it %s the setting", d.want, d.got, d.verb())
	if d.again {
		s += ", also after it was set once more"
	}
	return s
}

// readBoot reads the override back; flagsValid is false where only the device is known.
func (c *Client) readBoot(ctx context.Context) (b Boot, flagsValid bool, err error) {
	if c.t.Protocol == "ipmi" {
		return c.ipmiBootParam(ctx)
	}
	ov, err := c.bc.GetBootDeviceOverride(ctx)
	if err != nil {
		return Boot{}, false, err
	}
	return Boot{Device: string(ov.Device), Persistent: ov.IsPersistent, Legacy: !ov.IsEFIBoot}, true, nil
}

// info reads the IPMI BMC's identity (Redfish: redfishInfo).
func (c *Client) info(ctx context.Context) (*Info, error) {
	return c.ipmiInfo(ctx)
}

// wrap makes an *Error naming the node and BMC, with the password scrubbed, and its
// kind: no answer (timeout, connection-refused, tls, unreachable), an answer refusing
// (refused, auth, session-limit, unavailable), or accepted and not done (not-applied,
// in-transition, boot-dropped, boot-changed).
func (t Target) wrap(op Op, err error, attempts int, ctx context.Context, tr *trail) error {
	msg := tidy(Redact(err.Error(), t.Login.Username, t.Login.Password))
	refusal, _, limit, taskWait := tr.snapshot()
	timedOut := ctx.Err() == context.DeadlineExceeded || timeoutErr(err)
	busy := timedOut && busyAnswer(err)
	e := &Error{Node: t.Node, BMC: t.URL(), Op: op.Name(), Msg: msg}
	var d *dropped
	var na *notApplied
	switch {
	case errors.As(err, &d):
		e.Kind = KindBootDropped
		e.Hint = "known on Supermicro BMCs, bmclib issue 459: some firmware keeps only a persistent UEFI override, some needs a BMC firmware update; otherwise set the boot order in the BIOS setup"
		if d.changed() {
			e.Kind = KindBootChanged
			e.Hint = "the BMC keeps the override only in its own way (e.g. a one-time override stored as Continuous): ask for what it keeps (boot --persistent, or --legacy) and clear it after the install, or update the BMC firmware"
		}
	case errors.As(err, &na):
		e.NotApplied = &na.NotApplied
		e.Kind = KindNotApplied
		e.Hint = "the BMC took the request but the machine did not change: check the BMC's event log (SEL) for a power fault, a power-restore or power-button lock, or a hung power controller; racklift sent the request once and did not repeat it"
		if transitional(na.StillReports) {
			e.Kind = KindInTransition
			e.Hint = "the BMC is still moving the machine to the new state: some take minutes (PSUs, memory training); run power status later or raise --timeout, and if it never settles check the BMC's event log"
		}
	case limit != "":
		e.Kind, e.Msg = KindSessionLimit, limit
		e.Hint = "every session the BMC allows is held by someone else (its web UI, another tool, another racklift user): close sessions in the BMC's web UI or wait until they expire; give racklift its own BMC account so it can release its own"
	case taskWait != "" && timedOut:
		e.Kind, e.Msg = KindNotApplied, taskWait
		e.Hint = "the BMC took the request as a task that had not finished at the deadline: check the task in the BMC's task list, raise --timeout for this BMC"
	case busy:
		e.Msg = "the BMC was still unavailable at the deadline: " + msg
		e.Kind, e.Hint = classify(e.Msg, t.Protocol)
	case timedOut:
		// What the library says after the deadline closed its connections (EOF,
		// closed connection, reset) is an artefact: the cause is the silence.
		e.Msg = "no answer before the deadline"
		e.Kind, e.Hint = classify("timeout", t.Protocol)
	default:
		e.Kind, e.Hint = classify(msg, t.Protocol)
		if refusal != nil && (e.Kind == KindOther || e.Kind == KindRefused) {
			e.Kind = KindRefused
			e.Msg = "the BMC refused: " + refusal.String()
			e.Hint = "the BMC answered and would not do it: its message says why (a lock, a state that forbids the action, a value it does not support)"
		}
	}
	if refusal != nil && e.Kind != KindBootDropped && e.Kind != KindBootChanged {
		e.Refusal = refusal
	}
	if e.Kind == KindAuth && t.Credential != "" {
		e.Hint = fmt.Sprintf("the BMC refused the login of user %q: check credential %q (%s, or its entry in the secrets file) and that the account is enabled on the BMC",
			t.Login.Username, t.Credential, inventory.EnvName(t.Credential, "password"))
	}
	if attempts > 1 {
		e.Msg += fmt.Sprintf(" (after %d attempts)", attempts)
	}
	return e
}
