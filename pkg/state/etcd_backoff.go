package state

import (
	"math/rand/v2"
	"time"
)

// A batch loses its race when another instance committed between its read and its write
// (every batch that logs an event compares meta/seq). The instances' committers run
// back to back, so without a pause the loser reads again at once and races the same
// writers in the same rhythm: at 5,000 nodes on three instances, 55 % of the write
// transactions lost, each still a quorum round (docs/scale.md). A random pause of up
// to the lost try's duration puts the instances out of step (39 % lost in the same
// bench).

// backoff waits before a lost batch is read again: a random time in [0, try).
func backoff(try time.Duration) {
	if try > 0 {
		time.Sleep(rand.N(try))
	}
}
