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
