package bmc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// labTarget is the Redfish target of a virtual BMC, its certificate pinned.
func labTarget(b *lab.BMC) bmc.Target {
	return bmc.Target{Node: "n", Protocol: "redfish", Host: b.Host(), Port: b.Port(),
		Login: inventory.Secret{Username: labUser, Password: labPassword}, TLS: inventory.TLS{Fingerprint: b.Fingerprint()}}
}

// power soft asks the OS to shut down (GracefulShutdown, never ForceOff) and returns
// once the BMC took it, saying the OS decides: it does not wait for "on", as the other
// actions do. The deadline is a guard: a soft off waiting for a state would fail at it.
func TestRedfishSoftOffAsksTheOS(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	if err := b.Machine().PowerOn(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	out, err := bmc.Do(context.Background(), labTarget(b), bmc.Op{Power: bmc.PowerSoft}, bmc.Options{Timeout: 30 * time.Second})
	c := b.Counts()
	if err != nil || c.GracefulShutdown != 1 || c.ForceOff != 0 || c.PowerCycle != 0 || out.Attempts != 1 {
		t.Errorf("soft off: %v, %d attempts, counters %+v; want one GracefulShutdown", err, out.Attempts, c)
	}
	if out.Power != "off" || !strings.Contains(out.Note, "graceful shutdown requested") {
		t.Errorf("soft off read back %q, note %q", out.Power, out.Note)
	}

	// An OS that has not shut down yet: still on, and the note says why that is no failure.
	if err := b.Machine().PowerOn(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	b.SetFaults(lab.Faults{IgnorePower: true})
	out, err = bmc.Do(context.Background(), labTarget(b), bmc.Op{Power: bmc.PowerSoft}, bmc.Options{Timeout: 30 * time.Second})
	if err != nil || out.Power != "on" || !strings.Contains(out.Note, "the OS decides") {
		t.Errorf("soft off of a machine still on: %v, read back %q, note %q", err, out.Power, out.Note)
	}
}

// The wait before each retry doubles from Options.Backoff (up to MaxBackoff). Lower
// bounds only: a try in between may take any time on a loaded machine.
func TestRetryBackoffDoubles(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	b.Unavailable(time.Hour)
	dl := newDeadlineOnCue()
	var at []time.Time // when each retry was decided (OnRetry runs in Do's goroutine)
	o := bmc.Options{Timeout: hangGuard, Backoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
		OnRetry: func(attempt int, _ error) {
			at = append(at, time.Now())
			if attempt == 6 {
				dl.expire()
			}
		}}
	_, err := bmc.Do(dl, labTarget(b), bmc.Op{Power: bmc.PowerStatus}, o)
	var be *bmc.Error
	if !errors.As(err, &be) || be.Kind != bmc.KindUnavailable || !strings.Contains(be.Msg, "(after ") {
		t.Errorf("always busy: %v; want unavailable after several attempts", err)
	}
	if len(at) < 6 {
		t.Fatalf("%d retries, want 6", len(at))
	}
	wait := 50 * time.Millisecond
	for i := 1; i < 6; i++ {
		if gap := at[i].Sub(at[i-1]); gap < wait {
			t.Errorf("retry %d came %v after the one before, want at least the backoff %v", i+1, gap, wait)
		}
		wait = min(2*wait, 400*time.Millisecond)
	}
}

// A login refused for the session limit releases only sessions this process does not
// hold: another operation's live session (here one following a task monitor) is never
// deleted, so the second operation fails with session-limit and the first keeps going.
func TestSessionLimitSparesLiveSessions(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	b.SetFaults(lab.Faults{SessionLimit: 1, TaskMonitor: time.Hour})
	first := newDeadlineOnCue()
	done := make(chan error, 1)
	go func() {
		_, err := bmc.Do(first, labTarget(b), bmc.Op{Power: bmc.PowerOn}, bmc.Options{Timeout: hangGuard})
		done <- err
	}()
	t.Cleanup(first.expire)
	for guard := time.Now().Add(hangGuard); b.Counts().TaskPolls == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(guard) {
			t.Fatal("the first operation never polled its task")
		}
	}
	_, err := bmc.Do(context.Background(), labTarget(b), bmc.Op{Power: bmc.PowerStatus}, bmc.Options{Timeout: hangGuard})
	var be *bmc.Error
	if !errors.As(err, &be) || be.Kind != bmc.KindSessionLimit || !strings.Contains(be.Msg, "released 0 stale session(s)") {
		t.Errorf("second operation: %v; want session-limit, nothing released", err)
	}
	if n := b.Sessions(); n != 1 {
		t.Errorf("%d sessions while the first operation runs, want its 1", n)
	}
	first.expire()
	if err := <-done; !errors.As(err, &be) || be.Kind != bmc.KindNotApplied {
		t.Errorf("first operation: %v; want not-applied (task still running)", err)
	}
	if n := b.Sessions(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// One operation talks over one connection: gofish asks for a new one per request, and
// bodies it closes unread are drained, so the TLS handshake is paid once.
func TestRedfishOneConnectionPerOperation(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	for _, op := range []bmc.Op{{Power: bmc.PowerStatus}, {Power: bmc.PowerOn}, {Boot: &bmc.Boot{Device: bmc.BootPXE}}} {
		before := b.Counts().Connections
		if _, err := bmc.Do(context.Background(), labTarget(b), op, bmc.Options{Timeout: hangGuard}); err != nil {
			t.Fatalf("%s: %v", op.Name(), err)
		}
		if n := b.Counts().Connections - before; n != 1 {
			t.Errorf("%s: %d connections, want 1", op.Name(), n)
		}
	}
}

// A boot device racklift does not know is refused before anything is sent.
func TestUnknownBootDeviceSendsNothing(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	_, err := bmc.Do(context.Background(), labTarget(b), bmc.Op{Boot: &bmc.Boot{Device: "usb"}}, bmc.Options{Timeout: hangGuard})
	if err == nil || !strings.Contains(err.Error(), `unknown boot device "usb"`) || b.Counts().BootOverrides != 0 {
		t.Errorf("boot usb: %v, %d overrides sent", err, b.Counts().BootOverrides)
	}
}
