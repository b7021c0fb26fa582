//go:build !linux

package lldp

import (
	"context"
	"math"
	"runtime"
	"time"

	"github.com/racklift/racklift/pkg/check"
)

// Listen needs Linux's packet sockets; elsewhere it says so in the result.
func Listen(_ context.Context, ifname string, wait time.Duration) check.LLDP {
	return check.LLDP{Interface: ifname, WaitSeconds: int(math.Ceil(wait.Seconds())), Error: "listening for LLDP needs Linux, not " + runtime.GOOS}
}
