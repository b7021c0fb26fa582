package agent

import (
	"context"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/expect"
)

// A one-shot (ramdisk) agent that starts while serve is down waits for serve's
// expectations instead of reporting an empty pass: the report it sends is checked
// against them.
func TestOnceWaitsForExpectations(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: false, exp: expect.Expectations{Node: "n1", GPU: &expect.GPU{Count: 8}}}
	checks := &fakeChecks{}
	d := daemon(t, srv, checks)
	d.Once, d.DeliverTimeout = true, time.Minute
	go func() {
		time.Sleep(1500 * time.Millisecond) // serve comes back after the agent's first try
		srv.setUp(true)
	}()
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen, _ := checks.runs()
	if len(seen) != 1 || seen[0].GPU == nil || seen[0].GPU.Count != 8 {
		t.Fatalf("the checks ran with %+v; want serve's expectations (8 GPUs), fetched once it was back", seen)
	}
}
