package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestServicesReportFailuresWhileServing: a part failing while serve runs ends Run with
// the part's name and error; a part returning nil, or failing because serve is
// stopping, is no failure; only the first failure is kept and nothing blocks.
func TestServicesReportFailuresWhileServing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sv := newServices(ctx)
	boom := errors.New("address in use")

	sv.report("quiet", nil)
	select {
	case err := <-sv.failed():
		t.Fatalf("a nil return reported as %v", err)
	default:
	}

	sv.start("tftp", func() error { return boom })
	select {
	case err := <-sv.failed():
		if !errors.Is(err, boom) || err.Error() != "tftp: address in use" {
			t.Errorf("failure %q, want tftp: address in use", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failing part was never reported")
	}

	sv.report("http", boom)
	sv.report("dhcp", boom) // a second one while the first is unread: dropped, not blocking
	if err := <-sv.failed(); err.Error() != "http: address in use" {
		t.Errorf("first of two failures %q, want http's", err)
	}

	cancel()
	sv.report("http", boom)
	select {
	case err := <-sv.failed():
		t.Errorf("a failure while stopping reported: %v", err)
	default:
	}
}
