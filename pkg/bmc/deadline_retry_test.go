package bmc_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
)

// A deadline that cuts a retry short before the BMC said anything reports what the BMC
// said before (503: unavailable), not silence. The retry is held at the BMC until the
// deadline, so the deadline falls inside it on any machine.
func TestDeadlineInRetryReportsTheBusyAnswer(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	b.Unavailable(time.Hour)
	hold := make(chan struct{})
	var holdOnce sync.Once
	release := func() { holdOnce.Do(func() { close(hold) }) }
	t.Cleanup(release)
	dl := newDeadlineOnCue()
	watched := make(chan struct{})
	o := bmc.Options{Timeout: hangGuard, Backoff: 10 * time.Millisecond, OnRetry: func(attempt int, _ error) {
		if attempt != 1 {
			return
		}
		b.SetFaults(lab.Faults{Hold: hold})
		go func() {
			defer close(watched)
			for guard := time.Now().Add(hangGuard); b.Counts().Held == 0 && time.Now().Before(guard); {
				time.Sleep(10 * time.Millisecond)
			}
			dl.expire() // the retry's request waits at the BMC
		}()
	}}
	out, err := bmc.Do(dl, labTarget(b), bmc.Op{Power: bmc.PowerStatus}, o)
	<-watched
	var be *bmc.Error
	if !errors.As(err, &be) || be.Kind != bmc.KindUnavailable || !strings.Contains(be.Msg, "still unavailable at the deadline") ||
		!strings.Contains(be.Msg, "503") || strings.Contains(be.Msg, "no answer") {
		t.Errorf("deadline in a retry: %v; want unavailable, the 503 before", err)
	}
	if out.Attempts != 2 || b.Counts().Held != 1 {
		t.Errorf("%d attempts, %d held; want the second one held", out.Attempts, b.Counts().Held)
	}
}
