package bmc

import (
	"context"
	"errors"
	"fmt"
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

// Op is one operation on a BMC: a power action, a boot override, or reading its identity.
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
	case op.Boot != nil:
		return "boot " + op.Boot.Device
	}
	return "power " + op.Power
}

// Info is what a BMC says about its machine and itself.
type Info struct {
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Firmware string `json:"bmc_firmware,omitempty"`
	Power    string `json:"power,omitempty"`
}

// Outcome is what an operation observed on the BMC afterwards.
type Outcome struct {
	Power    string `json:"power,omitempty"` // power state read back
	Boot     *Boot  `json:"boot,omitempty"`  // boot override read back
	Info     *Info  `json:"info,omitempty"`
	Note     string `json:"note,omitempty"`
	Attempts int    `json:"attempts"`
}

// Do runs op on the target's BMC within o.Timeout, retrying while the BMC answers 503
// or refuses connections. It returns when the deadline passes even if the BMC hangs.
// The error, if any, is an *Error.
func Do(ctx context.Context, t Target, op Op, o Options) (Outcome, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	backoff := o.Backoff
	var out Outcome
	st := &state{}
	for attempt := 1; ; attempt++ {
		var err error
		out, err = attemptOnce(ctx, t, op, o, st)
		out.Attempts = attempt
		if err == nil {
			return out, nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return out, t.wrap(op, err, attempt, ctx)
		}
		wait := time.NewTimer(backoff)
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return out, t.wrap(op, err, attempt, ctx)
		}
		backoff = min(backoff*2, o.MaxBackoff)
	}
}

// attemptOnce runs one try; it gives up at the deadline even if the library does not.
func attemptOnce(ctx context.Context, t Target, op Op, o Options, st *state) (Outcome, error) {
	type result struct {
		out Outcome
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := run(ctx, t, op, o, st)
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		return r.out, r.err
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// state carries across retries whether the BMC already took the change: a retry after
// that only reads back, so a 503 during the read-back never sends a second power cycle.
type state struct{ acted atomic.Bool }

func run(ctx context.Context, t Target, op Op, o Options, st *state) (Outcome, error) {
	c, err := open(ctx, t, o)
	if err != nil {
		return Outcome{}, err
	}
	defer c.close()
	switch {
	case op.Info:
		info, err := c.info(ctx)
		return Outcome{Info: info}, err
	case op.Boot != nil:
		return c.setBoot(ctx, *op.Boot, st)
	case op.Power == PowerStatus:
		s, err := c.powerState(ctx)
		return Outcome{Power: s}, err
	default:
		return c.power(ctx, op.Power, st)
	}
}

// power runs a power action and reads the state back.
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
	if !st.acted.Load() {
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
	st.acted.Store(true)
	want := "on"
	if action == PowerOff {
		want = "off"
	}
	// Power changes can take a few seconds on real BMCs: poll until the state shows.
	for {
		s, err := c.powerState(ctx)
		if err != nil {
			return Outcome{}, fmt.Errorf("power %s was accepted, reading the state back failed: %w", action, err)
		}
		if s == want {
			return Outcome{Power: s}, nil
		}
		if action == PowerSoft {
			return Outcome{Power: s, Note: "graceful shutdown requested; the OS decides when power goes off"}, nil
		}
		select {
		case <-ctx.Done():
			return Outcome{Power: s}, fmt.Errorf("the BMC accepted power %s but the system still reports %s at the deadline", action, s)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// setBoot sets the boot override and reads it back.
func (c *Client) setBoot(ctx context.Context, b Boot, st *state) (Outcome, error) {
	switch b.Device {
	case BootPXE, BootDisk, BootBIOS:
	default:
		return Outcome{}, fmt.Errorf("unknown boot device %q (use pxe, disk or bios)", b.Device)
	}
	if !st.acted.Load() {
		ok, err := c.bc.SetBootDevice(ctx, b.Device, b.Persistent, !b.Legacy)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			return Outcome{}, fmt.Errorf("the BMC did not confirm the boot override")
		}
		st.acted.Store(true)
	}
	got, flagsValid, err := c.readBoot(ctx)
	if errors.Is(err, errNoReadBack) {
		return Outcome{Note: "this BMC cannot report its boot override; it was set but not read back"}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("the boot override was accepted, reading it back failed: %w", err)
	}
	out := Outcome{Boot: &got}
	if !flagsValid {
		// Only the device can be compared; say so rather than guess.
		got.Persistent, got.Legacy = b.Persistent, b.Legacy
		out.Note = "device read back; the BMC marks its boot flags invalid, so once/persistent and UEFI/legacy are not confirmed"
	}
	if got.Device != b.Device || got.Persistent != b.Persistent || got.Legacy != b.Legacy {
		return out, &dropped{want: b, got: got}
	}
	return out, nil
}

var errNoReadBack = errors.New("boot override cannot be read back")

// dropped is a boot override the BMC accepted and did not keep.
type dropped struct{ want, got Boot }

func (d *dropped) Error() string {
	return fmt.Sprintf("the BMC accepted the boot override (%s) but reading it back shows (%s): it dropped the setting", d.want, d.got)
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

// info reads vendor, model and firmware.
func (c *Client) info(ctx context.Context) (*Info, error) {
	if c.t.Protocol == "ipmi" {
		return c.ipmiInfo(ctx)
	}
	dev, err := c.bc.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	in := &Info{Vendor: dev.Vendor, Model: dev.Model, Serial: dev.Serial}
	if dev.BMC != nil && dev.BMC.Firmware != nil {
		in.Firmware = dev.BMC.Firmware.Installed
	}
	if s, err := c.powerState(ctx); err == nil {
		in.Power = s
	}
	return in, nil
}

// wrap makes an *Error naming the node and BMC, with the password scrubbed.
func (t Target) wrap(op Op, err error, attempts int, ctx context.Context) error {
	msg := tidy(Redact(err.Error(), t.Login.Username, t.Login.Password))
	timedOut := ctx.Err() == context.DeadlineExceeded || timeoutErr(err)
	busy := timedOut && busyAnswer(err)
	switch {
	case busy:
		msg = "the BMC was still unavailable at the deadline: " + msg
	case timedOut:
		// What the library says after the deadline closed its connections (EOF,
		// closed connection, reset) is an artefact: the cause is the silence.
		msg = "no answer before the deadline"
	}
	e := &Error{Node: t.Node, BMC: t.URL(), Op: op.Name(), Msg: msg}
	var d *dropped
	if errors.As(err, &d) {
		e.Kind = KindBootDropped
		e.Hint = "known on Supermicro BMCs, bmclib issue 459: some firmware keeps only a persistent UEFI override, some needs a BMC firmware update; otherwise set the boot order in the BIOS setup"
	} else {
		e.Kind, e.Hint = classify(msg, t.Protocol)
		if timedOut && !busy {
			e.Kind, e.Hint = classify("timeout", t.Protocol)
		}
		if e.Kind == KindAuth && t.Credential != "" {
			e.Hint = fmt.Sprintf("the BMC refused the login of user %q: check credential %q (%s, or its entry in the secrets file) and that the account is enabled on the BMC",
				t.Login.Username, t.Credential, inventory.EnvName(t.Credential, "password"))
		}
	}
	if attempts > 1 {
		e.Msg += fmt.Sprintf(" (after %d attempts)", attempts)
	}
	return e
}
